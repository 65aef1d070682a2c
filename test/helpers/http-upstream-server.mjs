// A real HTTPS API for the HTTP-target tests, run in its own process (so the
// gateway's memory is measured apart from it). It accepts only the
// credentials given in its environment and reports every request it sees as
// one JSON line on stdout.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const env = process.env;
const accepted = new Set(
  [
    env.UP_BEARER && `authorization:Bearer ${env.UP_BEARER}`,
    env.UP_API_KEY && `x-api-key:${env.UP_API_KEY}`,
    env.UP_BASIC && `authorization:Basic ${Buffer.from(env.UP_BASIC).toString('base64')}`,
  ].filter(Boolean),
);

function credentialOk(req) {
  const auth = req.headers.authorization;
  const key = req.headers['x-api-key'];
  return (auth && accepted.has(`authorization:${auth}`)) || (key && accepted.has(`x-api-key:${key}`));
}

function report(req, extra) {
  process.stdout.write(
    `${JSON.stringify({
      method: req.method,
      url: req.url,
      host: req.headers.host,
      authorization: req.headers.authorization ?? null,
      x_api_key: req.headers['x-api-key'] ?? null,
      cookie: req.headers.cookie ?? null,
      ...extra,
    })}\n`,
  );
}

function json(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const CUSTOMERS = {
  customers: [
    { id: 1, email: 'ann@example.com', profile: { ssn: '078-05-1120', note: 'call ann.smith@example.org' } },
    { id: 2, email: 'bo@example.com', profile: { ssn: '219-09-9999', note: 'card 4111 1111 1111 1111 on file' } },
  ],
  card: { number: '5555555555554444', brand: 'mastercard' },
  ssn: '123-45-6789',
};

function route(req, res, body) {
  const url = new URL(req.url, 'https://upstream.test');
  const p = url.pathname;
  if (p === '/api/v1/invoices' && req.method === 'GET') return json(res, 200, { invoices: [{ id: 'in_1', amount: 4200 }] });
  if (p === '/api/v1/invoices' && req.method === 'POST') {
    return json(res, 201, { received: body.toString('utf8'), content_type: req.headers['content-type'] ?? null });
  }
  if (p === '/api/v1/refunds' && req.method === 'POST') return json(res, 201, { refund: 'rf_1', body: body.toString('utf8') });
  if (p.startsWith('/api/v1/customers')) {
    if (req.method === 'DELETE') return json(res, 200, { deleted: p });
    return json(res, 200, CUSTOMERS);
  }
  if (p === '/api/v1/note') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    return res.end('Reach me at jane.doe@example.com, card 4111-1111-1111-1111.\n');
  }
  if (p === '/api/v1/big') {
    const items = Array.from({ length: 40_000 }, (_, i) => ({ i, email: `user${i}@example.com` }));
    return json(res, 200, { items });
  }
  if (p === '/api/v1/download') {
    const size = Number(url.searchParams.get('size') ?? 0);
    const chunk = Buffer.alloc(64 * 1024, 'gate-download-');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const n = Math.min(chunk.length, size - sent);
        sent += n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  if (p === '/api/v1/events') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let n = 0;
    const tick = () => res.write(`event: tick\ndata: {"n":${n++},"contact":"ops@example.com"}\n\n`);
    tick();
    const timer = setInterval(tick, 200);
    res.on('close', () => {
      clearInterval(timer);
      process.stdout.write(`${JSON.stringify({ event_stream_closed: true, sent: n })}\n`);
    });
    return;
  }
  json(res, 404, { error: 'not found', path: p });
}

const server = createServer({ cert: readFileSync(env.UP_CERT), key: readFileSync(env.UP_KEY) }, (req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    report(req, { body_sha256: createHash('sha256').update(body).digest('hex'), body_length: body.length });
    if (!credentialOk(req)) return json(res, 401, { error: 'bad credential' });
    route(req, res, body);
  });
});

// A WebSocket echo (RFC 6455), small enough to hand-roll: text and binary frames come back as sent.
server.on('upgrade', (req, socket) => {
  report(req, { upgrade: req.headers.upgrade });
  if (!credentialOk(req)) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  socket.on('data', (data) => {
    buf = Buffer.concat([buf, data]);
    while (buf.length >= 2) {
      const op = buf[0] & 0x0f;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      const masked = (buf[1] & 0x80) !== 0;
      const need = off + (masked ? 4 : 0) + len;
      if (buf.length < need) return;
      const mask = masked ? buf.subarray(off, off + 4) : undefined;
      const payload = Buffer.from(buf.subarray(off + (masked ? 4 : 0), need));
      if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
      buf = buf.subarray(need);
      if (op === 0x8) {
        socket.end(Buffer.from([0x88, 0]));
        return;
      }
      const out = op === 0x1 ? Buffer.from(`echo: ${payload.toString('utf8')}`) : payload;
      socket.write(Buffer.concat([frameHeader(op, out.length), out]));
    }
  });
  socket.on('error', () => socket.destroy());
});

function frameHeader(op, length) {
  return length < 126 ? Buffer.from([0x80 | op, length]) : Buffer.from([0x80 | op, 126, length >> 8, length & 0xff]);
}

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ listening: server.address().port })}\n`);
});
