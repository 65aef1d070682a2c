/**
 * The owner of a loopback client, from the kernel's socket table: what lets
 * `gate connect` to a TCP target refuse another local user. Real sockets
 * against the real /proc, and tables written here to put the entry where a
 * chunked read cuts it, among entries that only look like it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loopbackPeerUid, uidIn } from '../../src/tunnel/peer-uid.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gate-peer-uid-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
/** One line of /proc/net/tcp, as the kernel formats it. */
const entry = (sl: number, localPort: number, remotePort: number, uid: number, state = '01') =>
  `${String(sl).padStart(4)}: 0100007F:${hex(localPort)} 0100007F:${hex(remotePort)} ${state} 00000000:00000000 00:00000000 00000000 ${String(uid).padStart(5)}        0 ${100000 + sl} 1 0000000000000000 20 4 30 10 -1`;

/** A socket whose ports are these (all loopbackPeerUid reads of it). */
const socketWith = (remotePort: number, localPort: number) => ({ remotePort, localPort }) as Socket;

describe('loopbackPeerUid', () => {
  test('names the owner of a real loopback client: this process', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    const socket = await accepted;
    expect(await loopbackPeerUid(socket)).toBe(process.getuid?.());
    client.destroy();
    socket.destroy();
    await new Promise((r) => server.close(r));
  });

  test('finds the entry wherever a read cuts the table, and not the ones that only share a port', async () => {
    const client = 40_001;
    const ours = 5_432;
    const filler = (from: number, n: number) => Array.from({ length: n }, (_, i) => entry(from + i, 20_000 + ((from + i) % 9_000), 60_000, 0, '06'));
    const lines = [
      HEADER,
      // Our own side of the connection (ports the other way round), and the client's port towards another server.
      entry(0, ours, client, 7),
      entry(1, client, 9_999, 8),
      ...filler(2, 5_000),
    ];
    const before = `${lines.join('\n')}\n`.length;
    // Put the client's entry across the first 64 KiB boundary a read ends at.
    const at = lines.findIndex((_, i) => `${lines.slice(0, i + 1).join('\n')}\n`.length > 65_536 - 40);
    lines.splice(at, 0, entry(at, client, ours, 1234));
    const table = join(dir, 'tcp');
    await writeFile(table, `${lines.join('\n')}\n`);
    expect(before).toBeGreaterThan(65_536 * 4);
    expect(await loopbackPeerUid(socketWith(client, ours), [table])).toBe(1234);
    // Absent from the table, or no table: cannot be told.
    expect(await loopbackPeerUid(socketWith(client, 1), [table])).toBeUndefined();
    expect(await loopbackPeerUid(socketWith(client, ours), [join(dir, 'missing')])).toBeUndefined();
    // The IPv6 table is read when the IPv4 one does not have it.
    const six = join(dir, 'tcp6');
    await writeFile(six, `${HEADER}\n${entry(0, client, 1, 4321)}`);
    expect(await loopbackPeerUid(socketWith(client, 1), [table, six])).toBe(4321);
  });

  test('uidIn takes the client port as the local address only, reading on past an entry where it is the remote one', () => {
    const reverse = entry(1, 8, 7, 11);
    const wanted = entry(2, 7, 8, 99);
    const want = { local: hex(7), remote: hex(8) };
    expect(uidIn(`${HEADER}\n${reverse}\n`, want)).toBeUndefined();
    expect(uidIn(`${HEADER}\n${reverse}\n${wanted}\n`, want)).toBe(99);
    expect(uidIn(`${HEADER}\n${reverse}\n${wanted}\n`, { local: hex(8), remote: hex(7) })).toBe(11);
  });
});
