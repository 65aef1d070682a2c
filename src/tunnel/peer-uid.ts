import { open } from 'node:fs/promises';
import type { Socket } from 'node:net';

/** The kernel's socket tables, IPv4 then IPv6 (a loopback client may be either). */
const PROC_TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];
/** Read this much at a time, and stop at the entry: the kernel writes the table as it is read. */
const CHUNK_BYTES = 64 * 1024;

/** Reads of the tables before an entry that is not in them counts as not there (see peerOwner). */
const PASSES = 3;

/**
 * Who owns the other end of a loopback TCP connection, from Linux's
 * /proc/net/tcp (the client's socket is listed there with its owner, like
 * identd would answer):
 *
 * - `{ uid }`: the client's entry, with its owner;
 * - `{ unlisted: true }`: the tables were read, the client's entry is in
 *   none of them. Its owner cannot be told, so a caller that checks owners
 *   must refuse it: the kernel formats the table as it is read, so another
 *   user churning sockets could shift entries between two reads and have
 *   theirs skipped. It is read PASSES times before it counts as not there;
 *   a client that has already gone is not listed either, and loses nothing;
 * - `{ noTables: true }`: there is no such table to read (not Linux).
 *
 * Why: a TCP target's client cannot be asked for a password, so a loopback
 * listener is otherwise open to every user of the machine.
 *
 * The table lists every socket of the machine (TIME_WAIT ones included: a
 * few thousand after a burst of short connections), and the kernel formats
 * it as it is read. So it is read in chunks until the entry turns up, and
 * searched for the port rather than split into fields line by line: reading
 * and splitting all of it cost `gate connect` 46 ms of CPU per connection
 * with 5 000 to 9 000 sockets listed (docs/performance.md).
 */
export type PeerOwner = { uid: number } | { unlisted: true } | { noTables: true };

export async function peerOwner(socket: Socket, tables: readonly string[] = PROC_TABLES): Promise<PeerOwner> {
  const peerPort = socket.remotePort;
  const ownPort = socket.localPort;
  // A socket already closed has no ports left: it is not listed anywhere.
  if (peerPort === undefined || ownPort === undefined) return { unlisted: true };
  const hexPort = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  const want = { local: hexPort(peerPort), remote: hexPort(ownPort) };
  for (let pass = 0; pass < PASSES; pass++) {
    let read = false;
    for (const table of tables) {
      const found = await scanTable(table, want);
      if (typeof found === 'number') return { uid: found };
      if (found === 'read') read = true;
    }
    if (!read) return { noTables: true };
  }
  return { unlisted: true };
}

interface Wanted {
  /** The client's port: the entry's local address. */
  local: string;
  /** Our port: the entry's remote address. */
  remote: string;
}

/** The entry's uid; 'read' when the table was read to its end without it; 'missing' when there is no table to read. */
async function scanTable(file: string, want: Wanted): Promise<number | 'read' | 'missing'> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch {
    return 'missing';
  }
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    /** The start of a line the last chunk cut. */
    let carry = '';
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) return uidIn(`${carry}\n`, want) ?? 'read';
      const text = carry + buf.toString('latin1', 0, bytesRead);
      const end = text.lastIndexOf('\n') + 1;
      const uid = uidIn(text.slice(0, end), want);
      if (uid !== undefined) return uid;
      carry = text.slice(end);
    }
  } catch {
    // Opened but not readable to its end: as good as read without the entry (the caller refuses, it does not guess).
    return 'read';
  } finally {
    await handle.close();
  }
}

/** The uid of the entry from port `want.local` to port `want.remote` among whole lines of the table. */
export function uidIn(lines: string, want: Wanted): number | undefined {
  const needle = `:${want.local} `;
  for (let at = lines.indexOf(needle); at >= 0; at = lines.indexOf(needle, at + 1)) {
    const start = lines.lastIndexOf('\n', at) + 1;
    const stop = lines.indexOf('\n', at);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    const f = lines.slice(start, stop < 0 ? undefined : stop).trim().split(/\s+/);
    if (f.length < 8) continue;
    if (f[1]!.split(':')[1] === want.local && f[2]!.split(':')[1] === want.remote) return Number(f[7]);
  }
  return undefined;
}
