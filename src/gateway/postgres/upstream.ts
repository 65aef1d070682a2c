/**
 * Opens the upstream connection: TCP, optional TLS (SSLRequest first), the
 * StartupMessage as the role's user, and SCRAM-SHA-256 login with the
 * server-held password (md5 / cleartext only where the role's `auth` allows
 * them). The server must prove it knows the password: SCRAM's server
 * signature is required before AuthenticationOk. Errors are UpstreamErrors whose text is safe
 * to show the client: it never contains the password.
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { B, cstringAt, parseErrorFields, type TxStatus } from './backend.js';
import { MAX_BACKEND_MESSAGE } from './framing.js';
import {
  passwordMessage,
  saslInitialResponse,
  saslResponse,
  sslRequest,
  startupMessage,
} from './frontend.js';
import { md5PasswordResponse } from './md5.js';
import { scramClient } from './scram.js';
import { SocketReader } from './socket-reader.js';

/** Why the upstream login failed, in words fit for the client; `code` is the SQLSTATE to send. */
export class UpstreamError extends Error {
  override name = 'UpstreamError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Password methods a role may answer (`auth:` on a postgres role). */
export type UpstreamAuthMethod = 'scram-sha-256' | 'md5' | 'password';

/** SCRAM only, unless the role's config says otherwise. */
export const DEFAULT_UPSTREAM_AUTH: readonly UpstreamAuthMethod[] = ['scram-sha-256'];

export interface UpstreamOptions {
  host: string;
  port: number;
  tls: { mode: 'disable' | 'require' | 'verify-full'; ca?: string };
  user: string;
  database: string;
  password: string;
  /**
   * The methods gate may answer. A server asking for another one (cleartext,
   * md5) gets nothing: whoever answers on the address could be collecting
   * passwords. Default {@link DEFAULT_UPSTREAM_AUTH}.
   */
  auth?: readonly UpstreamAuthMethod[];
  /** Extra startup parameters (application_name, client_encoding, …). */
  params: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface Upstream {
  socket: Socket | TLSSocket;
  pid: number;
  key: number;
  /** ParameterStatus and NoticeResponse frames to forward to the client, as received. */
  frames: Buffer[];
  txStatus: TxStatus;
  /** Bytes read after the first ReadyForQuery (normally none). */
  leftover: Buffer;
}

/** Splits `host:port` (with `[v6]:port`). */
export function splitAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (!m) throw new UpstreamError('08001', `invalid address ${address}`);
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

export async function connectUpstream(opts: UpstreamOptions): Promise<Upstream> {
  const raw = await openTcp(opts);
  let socket: Socket | TLSSocket = raw;
  try {
    if (opts.tls.mode !== 'disable') socket = await startTls(raw, opts);
    return await login(socket, opts);
  } catch (err) {
    socket.destroy();
    raw.destroy();
    throw err;
  }
}

function openTcp(opts: UpstreamOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: opts.host, port: opts.port });
    const timer = setTimeout(() => fail(new UpstreamError('08001', 'connection timed out')), opts.timeoutMs ?? 15_000);
    const onAbort = () => fail(new UpstreamError('57P01', 'the grant ended while connecting'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    function done() {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.off('error', onError);
    }
    function fail(err: Error) {
      done();
      socket.destroy();
      reject(err);
    }
    function onError(err: NodeJS.ErrnoException) {
      const what =
        err.code === 'ECONNREFUSED'
          ? 'connection refused'
          : err.code === 'ENOTFOUND'
            ? `host ${opts.host} not found`
            : `${err.code ?? 'network error'}`;
      fail(new UpstreamError('08001', what));
    }
    socket.once('error', onError);
    socket.once('connect', () => {
      done();
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

async function startTls(raw: Socket, opts: UpstreamOptions): Promise<TLSSocket> {
  const reader = new SocketReader(raw);
  raw.write(sslRequest());
  let answer: Buffer;
  try {
    answer = await reader.read(1);
  } catch {
    throw new UpstreamError('08006', 'connection closed during TLS negotiation');
  }
  // Bytes after 'S' would be injected plaintext (CVE-2021-23222): refuse them.
  const extra = reader.detach();
  if (answer[0] !== 0x53) throw new UpstreamError('08001', 'the server does not accept TLS connections');
  if (extra.length > 0) throw new UpstreamError('08P01', 'unexpected data after the TLS answer');
  const verify = opts.tls.mode === 'verify-full';
  return new Promise((resolve, reject) => {
    const sock = tlsConnect({
      socket: raw,
      host: opts.host,
      // SNI must not be an IP address (RFC 6066; Node warns).
      servername: isIP(opts.host) ? undefined : opts.host,
      rejectUnauthorized: verify,
      ca: verify && opts.tls.ca ? opts.tls.ca : undefined,
    });
    const onError = (err: Error) => {
      sock.destroy();
      reject(new UpstreamError('08001', `TLS failed: ${err.message}`));
    };
    sock.once('error', onError);
    sock.once('secureConnect', () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

async function login(socket: Socket | TLSSocket, opts: UpstreamOptions): Promise<Upstream> {
  const reader = new SocketReader(socket);
  const timer = setTimeout(() => socket.destroy(new UpstreamError('08001', 'login timed out')), opts.timeoutMs ?? 15_000);
  try {
    socket.write(startupMessage({ user: opts.user, database: opts.database, ...opts.params }));
    const frames: Buffer[] = [];
    let pid = 0;
    let key = 0;
    let scram: ReturnType<typeof scramClient> | undefined;
    /** Set once the server proved it knows the password (SCRAM) or an allowed weaker method was answered. */
    let authenticated = false;
    const allowed = opts.auth ?? DEFAULT_UPSTREAM_AUTH;
    const refuseMethod = (method: UpstreamAuthMethod, what: string) =>
      new UpstreamError(
        '28000',
        `the server asked for ${what}, which role ${opts.user} does not allow (auth: [${allowed.join(', ')}]); ` +
          'gate sent no password. If the server really uses it, an admin can add ' +
          `"${method}" to the role's auth list in gate.yaml.`,
      );
    for (;;) {
      let msg: { type: number; body: Buffer };
      try {
        msg = await reader.readTyped(MAX_BACKEND_MESSAGE);
      } catch (err) {
        if (err instanceof UpstreamError) throw err;
        throw new UpstreamError('08006', 'the server closed the connection during login');
      }
      const { type, body } = msg;
      if (type === B.ErrorResponse) throw loginError(parseErrorFields(body), opts.user);
      if (type === B.Authentication) {
        const code = body.readInt32BE(0);
        if (code === 0) {
          // AuthenticationOk proves nothing by itself: an impostor sends it at once
          // (trust) or in place of SCRAM's server-final message.
          if (!authenticated) {
            throw new UpstreamError(
              '28000',
              scram
                ? 'the server skipped SCRAM-SHA-256 server authentication (no server signature): it did not prove it knows the password'
                : 'the server let gate in without authentication: it did not prove it knows the password',
            );
          }
          continue;
        }
        if (code === 3) {
          if (!allowed.includes('password')) throw refuseMethod('password', 'a cleartext password');
          authenticated = true;
          socket.write(passwordMessage(opts.password));
        } else if (code === 5) {
          if (!allowed.includes('md5')) throw refuseMethod('md5', 'an md5 password');
          authenticated = true;
          socket.write(passwordMessage(md5PasswordResponse(opts.user, opts.password, body.subarray(4, 8))));
        } else if (code === 10) {
          if (!allowed.includes('scram-sha-256')) throw refuseMethod('scram-sha-256', 'SCRAM-SHA-256');
          if (scram) throw new UpstreamError('08P01', 'unexpected second SASL exchange');
          const mechanisms = saslMechanisms(body);
          if (!mechanisms.includes('SCRAM-SHA-256')) {
            throw new UpstreamError('08001', `unsupported SASL mechanisms: ${mechanisms.join(', ')}`);
          }
          scram = scramClient(opts.password);
          socket.write(saslInitialResponse('SCRAM-SHA-256', scram.clientFirst));
        } else if (code === 11) {
          if (!scram) throw new UpstreamError('08P01', 'unexpected SASL continue');
          try {
            socket.write(saslResponse(await scram.respond(body.toString('utf8', 4))));
          } catch (err) {
            throw new UpstreamError('08P01', (err as Error).message);
          }
        } else if (code === 12) {
          if (!scram) throw new UpstreamError('08P01', 'unexpected SASL final message');
          try {
            scram.verify(body.toString('utf8', 4));
          } catch (err) {
            throw new UpstreamError('28000', (err as Error).message);
          }
          authenticated = true;
        } else {
          throw new UpstreamError('08001', `unsupported authentication method (code ${code})`);
        }
      } else if (type === B.BackendKeyData) {
        pid = body.readInt32BE(0);
        key = body.readInt32BE(4);
      } else if (type === B.ParameterStatus || type === B.NoticeResponse) {
        const out = Buffer.allocUnsafe(5 + body.length);
        out[0] = type;
        out.writeInt32BE(4 + body.length, 1);
        body.copy(out, 5);
        frames.push(out);
      } else if (type === B.ReadyForQuery) {
        const status = String.fromCharCode(body[0] ?? 0x49) as TxStatus;
        return { socket, pid, key, frames, txStatus: status, leftover: reader.detach() };
      } else if (type === B.NegotiateProtocolVersion) {
        // The server speaks an older minor version: fine, gate asked for 3.0.
      } else {
        throw new UpstreamError('08P01', `unexpected message 0x${type.toString(16)} during login`);
      }
    }
  } catch (err) {
    reader.detach();
    if (err instanceof UpstreamError) throw err;
    throw new UpstreamError('08006', (err as Error).message);
  } finally {
    clearTimeout(timer);
  }
}

function saslMechanisms(body: Buffer): string[] {
  const out: string[] = [];
  let i = 4;
  while (i < body.length && body[i] !== 0) {
    const [name, next] = cstringAt(body, i);
    out.push(name);
    i = next;
  }
  return out;
}

function loginError(fields: Record<string, string>, user: string): UpstreamError {
  const code = fields.C ?? '08006';
  if (code === '28P01') {
    return new UpstreamError('28P01', `authentication failed for role ${user}`);
  }
  return new UpstreamError(code, fields.M ?? 'login failed');
}
