import { Transform } from 'node:stream';

/**
 * Rewrites the JSON-RPC messages in a text/event-stream as they pass: each
 * event's `data:` lines are joined, parsed, handed to `edit`, and written
 * back as one `data:` line; other fields (id, event, retry) stay as they were.
 * An event whose data is not JSON passes unchanged.
 */
export function sseRewriter(edit: (message: unknown) => unknown): Transform {
  let buffer = '';
  const rewrite = (block: string): string => {
    const lines = block.split(/\r?\n/);
    const data = lines.filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, ''));
    if (data.length === 0) return block;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data.join('\n'));
    } catch {
      return block;
    }
    const others = lines.filter((l) => !l.startsWith('data:'));
    return [...others, `data: ${JSON.stringify(edit(parsed))}`].join('\n');
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      buffer += chunk.toString('utf8');
      const parts = buffer.split(/\r?\n\r?\n/);
      buffer = parts.pop() ?? '';
      done(null, parts.map((p) => `${rewrite(p)}\n\n`).join(''));
    },
    flush(done) {
      done(null, buffer ? rewrite(buffer) : '');
    },
  });
}
