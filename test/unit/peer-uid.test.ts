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
import { ownerRefusal, startLocalListener } from '../../src/tunnel/listener.js';
import { peerOwner, uidIn } from '../../src/tunnel/peer-uid.js';

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

describe('peerOwner', () => {
  test('names the owner of a real loopback client: this process', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<Socket>((r) => server.once('connection', r));
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    const socket = await accepted;
    expect(await peerOwner(socket)).toEqual({ uid: process.getuid?.() });
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
    expect(await peerOwner(socketWith(client, ours), [table])).toEqual({ uid: 1234 });
    // Absent from a table that was read: not listed. No table at all: nothing to read.
    expect(await peerOwner(socketWith(client, 1), [table])).toEqual({ unlisted: true });
    expect(await peerOwner(socketWith(client, ours), [join(dir, 'missing')])).toEqual({ noTables: true });
    // The IPv6 table is read when the IPv4 one does not have it.
    const six = join(dir, 'tcp6');
    await writeFile(six, `${HEADER}\n${entry(0, client, 1, 4321)}`);
    expect(await peerOwner(socketWith(client, 1), [table, six])).toEqual({ uid: 4321 });
    expect(await peerOwner(socketWith(client, 1), [join(dir, 'missing'), six])).toEqual({ uid: 4321 });
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

/**
 * Another local user whose entry the owner check cannot find (the kernel
 * formats the table as it is read: churning sockets can shift entries between
 * two reads, so one is skipped) was let through: "cannot be told" meant
 * "accept". A table that was read and does not list the client now refuses
 * it; only where there is no table at all (not Linux) is it accepted.
 */
describe('a TCP listener that takes only its owner', () => {
  const me = process.getuid?.() ?? 0;

  test('ownerRefusal: another uid and an unlisted client are refused, this uid and a system without tables are not', () => {
    expect(ownerRefusal({ uid: me }, me)).toBeUndefined();
    expect(ownerRefusal({ uid: me + 1 }, me)).toBe(`a connection from another local user (uid ${me + 1}) was refused`);
    expect(ownerRefusal({ unlisted: true }, me)).toMatch(/not in the kernel's socket table.*--socket/);
    expect(ownerRefusal({ noTables: true }, me)).toBeUndefined();
  });

  const attempt = async (tables: string[]) => {
    const refusals: string[] = [];
    let accepted = 0;
    const listener = await startLocalListener({
      ownerOnly: true,
      ownerTables: tables,
      onConnection: (s) => {
        accepted++;
        s.end('hello');
      },
      onRefused: (m) => refusals.push(m),
    });
    const client = connect(listener.port, '127.0.0.1');
    const got = await new Promise<string>((resolve) => {
      let text = '';
      client.on('data', (c) => {
        text += c.toString();
      });
      client.on('close', () => resolve(text));
      client.on('error', () => {});
    });
    await listener.close();
    return { accepted, refusals, got };
  };

  test('a client the table read does not list is refused, and told nothing', async () => {
    const table = join(dir, 'tcp-without-client');
    await writeFile(table, `${HEADER}\n${entry(0, 1, 2, me)}\n${entry(1, 3, 4, me)}\n`);
    const { accepted, refusals, got } = await attempt([table]);
    expect(accepted).toBe(0);
    expect(got).toBe('');
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatch(/owner is not in the kernel's socket table/);
  });

  test('the real table lists a real client as this user: accepted', async () => {
    const { accepted, refusals, got } = await attempt(['/proc/net/tcp', '/proc/net/tcp6']);
    expect(refusals).toEqual([]);
    expect(accepted).toBe(1);
    expect(got).toBe('hello');
  });

  test('no table to read (not Linux): accepted, as documented', async () => {
    const { accepted, got } = await attempt([join(dir, 'no-such-table')]);
    expect(accepted).toBe(1);
    expect(got).toBe('hello');
  });
});
