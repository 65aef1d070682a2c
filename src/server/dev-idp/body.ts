import type { IncomingMessage } from 'node:http';

const LIMIT = 16 * 1024;

/**
 * Reads an `application/x-www-form-urlencoded` body. The login form is tiny;
 * anything over 16 KiB is refused rather than buffered.
 */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > LIMIT) throw new RangeError('form body too large');
    chunks.push(buf);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
