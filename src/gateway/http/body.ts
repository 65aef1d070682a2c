import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

/** Reads a stream whole, up to `limit` bytes; `undefined` (and the stream destroyed) when it is larger. */
export function readBounded(stream: Readable, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        stream.off('data', onData);
        stream.destroy();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** Splits a stream into lines as it flows, so a per-line rewrite never holds more than one line. */
export function lineRewriter(rewrite: (line: string) => string, maxLine: number): { push(chunk: Buffer): Buffer; flush(): Buffer } {
  let pending = '';
  // A multi-byte character may be split across chunks.
  const decoder = new StringDecoder('utf8');
  return {
    push(chunk) {
      pending += decoder.write(chunk);
      const cut = pending.lastIndexOf('\n');
      if (cut === -1) {
        if (Buffer.byteLength(pending) <= maxLine) return Buffer.alloc(0);
        // A line longer than the bound is rewritten as far as it came rather than held forever.
        const out = rewrite(pending);
        pending = '';
        return Buffer.from(out, 'utf8');
      }
      const complete = pending.slice(0, cut + 1);
      pending = pending.slice(cut + 1);
      return Buffer.from(complete.split('\n').map(rewrite).join('\n'), 'utf8');
    },
    flush() {
      pending += decoder.end();
      const out = pending === '' ? '' : rewrite(pending);
      pending = '';
      return Buffer.from(out, 'utf8');
    },
  };
}
