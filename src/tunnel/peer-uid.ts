import { open } from 'node:fs/promises';
import type { Socket } from 'node:net';

/** The kernel's socket tables, IPv4 then IPv6 (a loopback client may be either). */
const PROC_TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];
/** Read this much at a time, and stop at the entry: the kernel writes the table as it is read. */
const CHUNK_BYTES = 64 * 1024;

/**
 * The uid owning the other end of a loopback TCP connection, read from
 * Linux's /proc/net/tcp (the client's socket is listed there with its
 * owner, like identd would answer). Undefined when it cannot be told (not
 * Linux, no /proc, the entry already gone).
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
export async function loopbackPeerUid(socket: Socket, tables: readonly string[] = PROC_TABLES): Promise<number | undefined> {
  const peerPort = socket.remotePort;
  const ownPort = socket.localPort;
  if (peerPort === undefined || ownPort === undefined) return undefined;
  const hexPort = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  const want = { local: hexPort(peerPort), remote: hexPort(ownPort) };
  for (const table of tables) {
    const uid = await scanTable(table, want);
    if (uid !== undefined) return uid;
  }
  return undefined;
}

interface Wanted {
  /** The client's port: the entry's local address. */
  local: string;
  /** Our port: the entry's remote address. */
  remote: string;
}

async function scanTable(file: string, want: Wanted): Promise<number | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    /** The start of a line the last chunk cut. */
    let carry = '';
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, CHUNK_BYTES, null);
      if (bytesRead === 0) return uidIn(`${carry}\n`, want);
      const text = carry + buf.toString('latin1', 0, bytesRead);
      const end = text.lastIndexOf('\n') + 1;
      const uid = uidIn(text.slice(0, end), want);
      if (uid !== undefined) return uid;
      carry = text.slice(end);
    }
  } catch {
    return undefined;
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
