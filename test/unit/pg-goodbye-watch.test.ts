/**
 * The CLI's watch of a relayed PostgreSQL connection decides whether gate
 * may append its own FATAL when the gateway's side goes away: only at a
 * message boundary, and not after the gateway's own ErrorResponse. It reads
 * message headers wherever the chunks split them.
 */
import type { Socket } from 'node:net';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { watchPgConnection } from '../../src/cli/pg-goodbye.js';

function message(type: string, body: Buffer | string = ''): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const h = Buffer.alloc(5);
  h.write(type, 0, 'latin1');
  h.writeInt32BE(b.length + 4, 1);
  return Buffer.concat([h, b]);
}

const keyData = () => {
  const b = Buffer.alloc(8);
  b.writeInt32BE(4242, 0);
  b.writeInt32BE(-77, 4);
  return message('K', b);
};

/** A startup message from the client, then the server's startup answer ending in BackendKeyData. */
function started() {
  // The watch only listens for 'data' on both sides: emitters hand it chunks exactly as the test splits them.
  const local = new EventEmitter();
  const remote = new EventEmitter();
  const watch = watchPgConnection(local as unknown as Socket, remote as unknown as Duplex);
  const startup = Buffer.alloc(8);
  startup.writeInt32BE(8, 0);
  startup.writeInt32BE(196608, 4);
  local.emit('data', startup);
  remote.emit('data', Buffer.concat([message('R', Buffer.alloc(4)), message('S', 'a\0b\0'), keyData()]));
  return { watch, remote };
}

const feed = (remote: EventEmitter, bytes: Buffer) => remote.emit('data', bytes);

describe('watchPgConnection', () => {
  test('takes the cancel key from the startup answer', () => {
    const { watch } = started();
    expect(watch.key).toEqual({ pid: 4242, key: -77 });
  });

  test('at every split of a result: gate speaks only at a message boundary', () => {
    const result = Buffer.concat([message('Z', 'I'), message('T', Buffer.alloc(30, 1)), message('D', Buffer.alloc(300, 2)), message('C', 'SELECT 1\0'), message('Z', 'I')]);
    const boundaries = new Set<number>([0]);
    for (let at = 0, i = 0; i < 5; i++) {
      at += 5 + result.readInt32BE(at + 1) - 4;
      boundaries.add(at);
    }
    for (let cut = 0; cut <= result.length; cut++) {
      // The same bytes in three chunks, split anywhere before the cut, then the link goes.
      const { watch, remote } = started();
      const a = Math.floor(cut / 3);
      const b = Math.floor((2 * cut) / 3);
      feed(remote, result.subarray(0, a));
      feed(remote, result.subarray(a, b));
      feed(remote, result.subarray(b, cut));
      const words = watch.lastWords('gate: gone');
      expect(words !== undefined, `cut at ${cut}`).toBe(boundaries.has(cut));
    }
  });

  test("after the gateway's own ErrorResponse, gate adds nothing", () => {
    const { watch, remote } = started();
    feed(remote, Buffer.concat([message('Z', 'I'), message('E', 'SFATAL\0C57P01\0Mgrant ended\0\0')]));
    expect(watch.lastWords('gate: gone')).toBeUndefined();
  });

  test('speaks once', () => {
    const { watch, remote } = started();
    feed(remote, message('Z', 'I'));
    expect(watch.lastWords('gate: gone')?.toString('latin1')).toContain('gate: gone');
    expect(watch.lastWords('gate: gone')).toBeUndefined();
  });
});
