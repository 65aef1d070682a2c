import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isGateError } from '../../src/errors.js';
import { playCast } from '../../src/record/player.js';

const cast = (events: [number, string, string][]) =>
  [JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 0 }), ...events.map((e) => JSON.stringify(e))].join('\n') +
  '\n';

function screen() {
  let text = '';
  const out = new Writable({
    write(c, _e, cb) {
      text += c.toString();
      cb();
    },
  });
  return { out, text: () => text };
}

describe('playCast', () => {
  it('writes the output events in order and leaves out keystrokes and resizes', async () => {
    const s = screen();
    await playCast(
      cast([
        [0, 'o', 'db=> '],
        [0.001, 'i', 'select 1;\r'],
        [0.002, 'r', '100x30'],
        [0.003, 'o', ' ?column? \r\n'],
      ]),
      s.out,
      { speed: 100 },
    );
    expect(s.text()).toBe('db=>  ?column? \r\n');
  });

  it('caps idle gaps, so a recording with an hour of silence plays to the end', async () => {
    const s = screen();
    await playCast(
      cast([
        [0, 'o', 'before '],
        [3600, 'o', 'after'],
      ]),
      s.out,
      { idleLimit: 0.01 },
    );
    expect(s.text()).toBe('before after');
  });

  it('stops with a cancellation when aborted mid-way', async () => {
    const s = screen();
    const ac = new AbortController();
    const playing = playCast(
      cast([
        [0, 'o', 'first'],
        [3600, 'o', 'never'],
      ]),
      s.out,
      { signal: ac.signal },
    );
    setTimeout(() => ac.abort(), 20);
    const err = await playing.catch((e: unknown) => e);
    expect(isGateError(err) && err.code).toBe('GATE_ERR_CANCELLED');
    expect(s.text()).toBe('first');
  });

  it('rejects a speed that is not positive', async () => {
    await expect(playCast(cast([]), screen().out, { speed: 0 })).rejects.toThrow(/speed/);
  });
});
