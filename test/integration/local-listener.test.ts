/**
 * The CLI's local end of a tunnel, as docs/security.md describes it: TCP on
 * 127.0.0.1 that drops any peer not on loopback, or a Unix socket in a
 * directory only the user can enter.
 */
import { stat } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { dirname } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { type LocalListener, startLocalListener } from '../../src/tunnel/listener.js';

let listener: LocalListener | undefined;
afterEach(async () => {
  await listener?.close();
  listener = undefined;
});

/** An address of this machine that is not loopback (the eth0 one): a peer "from the network" without leaving the host. */
function nonLoopbackAddress(): string {
  const found = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal);
  if (!found) throw new Error('this machine has no non-loopback IPv4 address to play a remote peer from');
  return found.address;
}

/** Connects from `localAddress`; resolves with whether the server kept the connection open long enough to answer. */
function dial(port: number, localAddress: string): Promise<{ answer: string; closed: boolean }> {
  return new Promise((resolve) => {
    let answer = '';
    const s: Socket = connect({ port, host: '127.0.0.1', localAddress });
    s.setEncoding('utf8');
    s.on('data', (d) => {
      answer += d;
      s.end();
    });
    s.on('error', () => {});
    s.on('close', () => resolve({ answer, closed: true }));
  });
}

describe('the local listener', () => {
  test('a loopback peer is served; a peer from a non-loopback address is dropped before gate sees it', async () => {
    const accepted: (string | undefined)[] = [];
    listener = await startLocalListener({
      onConnection(socket) {
        accepted.push(socket.remoteAddress);
        socket.end('hello from the tunnel\n');
      },
    });
    expect(listener.host).toBe('127.0.0.1');

    expect(await dial(listener.port, '127.0.0.1')).toEqual({ answer: 'hello from the tunnel\n', closed: true });
    expect(accepted).toEqual(['127.0.0.1']);

    const remote = nonLoopbackAddress();
    expect(await dial(listener.port, remote)).toEqual({ answer: '', closed: true });
    // No tunnel was opened for it.
    expect(accepted).toEqual(['127.0.0.1']);
  });

  test('--socket: the Unix socket sits in a fresh directory of mode 0700', async () => {
    listener = await startLocalListener({ socketDir: true, socketName: '.s.PGSQL.5432', onConnection: (s) => s.end('ok\n') });
    expect(listener.socketPath).toBeDefined();
    const dir = dirname(listener.socketPath!);
    expect(dir).toBe(listener.host);
    const info = await stat(dir);
    expect(info.isDirectory()).toBe(true);
    expect(info.mode & 0o777).toBe(0o700);
    expect(info.uid).toBe(process.getuid!());
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      const s = connect(listener!.socketPath!);
      s.setEncoding('utf8');
      s.on('data', (d) => (text += d));
      s.on('close', () => resolve(text));
    });
    expect(answer).toBe('ok\n');
  });
});
