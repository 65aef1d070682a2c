import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:tls';
import { expect, test } from 'vitest';
import { createLocalCertificate, derUnsignedInteger } from '../../src/tunnel/local-cert.js';

// The local Kubernetes listener's certificate: kubectl pins it from the
// kubeconfig, so it must be a well-formed X.509 certificate for the loopback names.
test('the certificate is self-signed for 127.0.0.1, ::1 and localhost and verifies in a real TLS handshake', async () => {
  const c = createLocalCertificate();
  const x = new X509Certificate(c.cert);
  expect(x.verify(x.publicKey)).toBe(true);
  expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
  expect(x.checkIP('::1')).toBe('::1');
  expect(x.checkHost('localhost')).toBe('localhost');
  expect(x.checkHost('evil.example')).toBeUndefined();

  const server = createServer({ key: c.key, cert: c.cert }, (s) => s.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const text = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, ca: c.cert }, () => {
        expect(s.authorized).toBe(true);
      });
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        got += d;
      });
      s.on('end', () => resolve(got));
      s.on('error', reject);
    });
    expect(text).toBe('hello');
    // Another certificate of the same kind is not trusted in its place.
    const other = createLocalCertificate();
    const refused = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port, ca: other.cert });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(String(e.code)));
      s.on('secureConnect', () => resolve('connected'));
    });
    expect(refused).not.toBe('connected');
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

// About one random serial in 256 starts with 0x00 and then a byte below 0x80.
// Encoded as it came, that INTEGER is not minimal DER, and OpenSSL (Node's
// X509Certificate, kubectl's Go TLS stack alike) refused the certificate with
// "asn1 encoding routines::illegal padding": gate kubectl then failed at random.
test('every serial, including ones that start with zero bytes or a high bit, gives a certificate OpenSSL parses', () => {
  const serials = [
    [0x00, 0x12, ...new Array(14).fill(0x34)],
    [0x00, 0x00, 0x00, 0x7f, ...new Array(12).fill(0xaa)],
    [0x00, 0x80, ...new Array(14).fill(0x01)],
    [0xff, ...new Array(15).fill(0xee)],
  ];
  for (const bytes of serials) {
    const c = createLocalCertificate(new Date(), 2, Uint8Array.from(bytes));
    const x = new X509Certificate(c.cert);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(BigInt(`0x${x.serialNumber}`)).toBe(BigInt(`0x${Buffer.from(bytes).toString('hex')}`));
  }
});

test('the serial is a minimal DER INTEGER', () => {
  expect(derUnsignedInteger(Uint8Array.from([0x00, 0x12])).toString('hex')).toBe('020112');
  expect(derUnsignedInteger(Uint8Array.from([0x00, 0x00, 0x80])).toString('hex')).toBe('02020080');
  expect(derUnsignedInteger(Uint8Array.from([0x80, 0x01])).toString('hex')).toBe('0203008001');
  expect(derUnsignedInteger(Uint8Array.from([0x00])).toString('hex')).toBe('020100');
});
