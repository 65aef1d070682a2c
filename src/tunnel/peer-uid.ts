import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';

/**
 * The uid owning the other end of a loopback TCP connection, read from
 * Linux's /proc/net/tcp (the client's socket is listed there with its
 * owner, like identd would answer). Undefined when it cannot be told (not
 * Linux, no /proc, the entry already gone).
 *
 * Why: a TCP target's client cannot be asked for a password, so a loopback
 * listener is otherwise open to every user of the machine.
 */
export async function loopbackPeerUid(socket: Socket): Promise<number | undefined> {
  const peerPort = socket.remotePort;
  const ownPort = socket.localPort;
  if (peerPort === undefined || ownPort === undefined) return undefined;
  const hexPort = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  const want = { local: hexPort(peerPort), remote: hexPort(ownPort) };
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const f = line.trim().split(/\s+/);
      if (f.length < 8) continue;
      const local = f[1]!.split(':')[1];
      const remote = f[2]!.split(':')[1];
      if (local === want.local && remote === want.remote) return Number(f[7]);
    }
  }
  return undefined;
}
