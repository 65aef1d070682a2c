/**
 * The figures each fault case measured (sessions, statements, events lost,
 * recovery time), merged into one JSON file that docs/reliability.md quotes.
 * GATE_FAULTS_FIGURES names the file; by default test/faults/figures.json.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

const FILE = resolve(process.env.GATE_FAULTS_FIGURES ?? resolve(import.meta.dirname, '../figures.json'));

export async function recordFigures(caseName: string, figures: Record<string, unknown>): Promise<void> {
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(await readFile(FILE, 'utf8')) as Record<string, unknown>;
  } catch {
    all = {};
  }
  all[caseName] = { ...figures, measured_at: new Date().toISOString(), cpus: (await import('node:os')).cpus().length };
  await writeFile(FILE, `${JSON.stringify(all, null, 2)}\n`);
}

/** Milliseconds since `start` (performance.now()), rounded. */
export function since(start: number): number {
  return Math.round(performance.now() - start);
}
