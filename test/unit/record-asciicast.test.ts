import { describe, expect, it } from 'vitest';
import { type CastHeader, castOutput, createCastWriter, readCast } from '../../src/record/asciicast.js';

const header: CastHeader = {
  version: 2,
  width: 80,
  height: 24,
  timestamp: 1_700_000_000,
  command: 'psql',
  env: { TERM: 'xterm-256color', SHELL: '/bin/sh' },
  gate: { target: 'db-prod', user: 'ada@example.com', grant: 'g1', session_id: '3b241101-e2bb-4255-8caf-4136c566a962' },
};

function recorder(coalesceMs = 10) {
  let clock = 0;
  const lines: string[] = [];
  const w = createCastWriter(header, { write: (l) => lines.push(String(l)), now: () => clock, coalesceMs });
  return { w, lines, tick: (ms: number) => (clock += ms), text: () => lines.join('') };
}

describe('asciicast writer', () => {
  it('writes the header first, with gate metadata, as one JSON line', () => {
    const { lines } = recorder();
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual(header);
    expect(lines[0]!.endsWith('\n')).toBe(true);
  });

  it('coalesces a burst of output into one event and keeps every byte', () => {
    const { w, lines, tick, text } = recorder(10);
    for (let i = 1; i <= 1000; i++) w.output(`${i}\r\n`);
    tick(50);
    w.output('tail');
    w.close();
    const cast = readCast(text());
    expect(lines.length).toBeLessThan(10);
    expect(cast.events.every((e) => e[1] === 'o')).toBe(true);
    expect(castOutput(text())).toBe(Array.from({ length: 1000 }, (_, i) => `${i + 1}\r\n`).join('') + 'tail');
    expect(cast.events.at(-1)![0]).toBeCloseTo(0.05, 6);
  });

  it('keeps input and resize events in order with the output around them', () => {
    const { w, tick, text } = recorder();
    w.output('db=> ');
    tick(1000);
    w.input('select 1;\r');
    w.output('1 row');
    w.resize(120, 40);
    w.close();
    const { events } = readCast(text());
    expect(events.map(([, type, data]) => [type, data])).toEqual([
      ['o', 'db=> '],
      ['i', 'select 1;\r'],
      ['o', '1 row'],
      ['r', '120x40'],
    ]);
    expect(events[1]![0]).toBe(1);
  });

  it('escapes control characters and unicode so every event stays on one line', () => {
    const { w, lines, text } = recorder();
    w.output('\x1b[1mbold\x1b[0m\n€ ✓ 🎉\u2028');
    w.close();
    expect(lines).toHaveLength(2);
    expect(castOutput(text())).toBe('\x1b[1mbold\x1b[0m\n€ ✓ 🎉\u2028');
  });

  it('records raw bytes exactly as JSON.stringify would, a UTF-8 sequence split between reads included', () => {
    const { w, tick, lines, text } = recorder();
    const shown = 'a\x1b[0m "q" \\ \t\x00\x7f € ✓ 🎉\u2028\r\n';
    const bytes = Buffer.from(shown);
    // Cut inside the euro sign and inside the emoji, and flush between the halves.
    const cuts = [0, bytes.indexOf('€') + 1, bytes.indexOf('🎉') + 2, bytes.length];
    for (let i = 1; i < cuts.length; i++) {
      w.output(bytes.subarray(cuts[i - 1], cuts[i]));
      tick(20);
      w.flush();
    }
    w.close();
    expect(castOutput(text())).toBe(shown);
    for (const line of lines.slice(1)) {
      const ev = JSON.parse(line);
      expect(line).toBe(`${JSON.stringify(ev)}\n`);
    }
  });

  it('escapes every ASCII byte as JSON.stringify does', () => {
    const { w, lines } = recorder();
    const ascii = Buffer.from(Array.from({ length: 128 }, (_, b) => b));
    w.output(ascii);
    w.close();
    expect(lines[1]).toBe(`${JSON.stringify([0, 'o', ascii.toString('latin1')])}\n`);
  });

  it('records invalid bytes, and a sequence the tool never finished, as U+FFFD', () => {
    const { w, text } = recorder();
    w.output(Buffer.from([0x6f, 0x6b, 0xff, 0x20]));
    w.flush();
    w.output(Buffer.from([0x78, 0xe2, 0x82]));
    w.close();
    expect(castOutput(text())).toBe('ok\ufffd x\ufffd');
    expect(() => readCast(text())).not.toThrow();
  });

  it('ignores writes after close', () => {
    const { w, lines } = recorder();
    w.close();
    w.output('late');
    expect(lines).toHaveLength(1);
  });
});

describe('readCast', () => {
  it('drops a cut-off last line from a writer that died, and says so', () => {
    const text = `${JSON.stringify(header)}\n[0.1,"o","ok"]\n[0.2,"o","cut`;
    const cast = readCast(text);
    expect(cast.truncated).toBe(true);
    expect(cast.events).toEqual([[0.1, 'o', 'ok']]);
  });

  it('rejects a file that is not asciicast v2', () => {
    expect(() => readCast('{"version":1}\n')).toThrow(/asciicast v2/);
    expect(() => readCast(`${JSON.stringify(header)}\nnot json\n[1,"o","x"]\n`)).toThrow(/line 2/);
  });
});
