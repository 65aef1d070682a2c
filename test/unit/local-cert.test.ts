import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:tls';
import { expect, test } from 'vitest';
import { createLocalCertificate } from '../../src/tunnel/local-cert.js';

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
