import { constants } from 'node:fs';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CheckItem } from './types.js';

/**
 * The data dir every server writes, whatever its store: the signing key, the
 * audit journal (gateway events before their answer leaves) and the audit
 * spool. It must be writable (or creatable); audit events a server that did
 * not stop cleanly left there are counted, not shown: the next start replays
 * them into the store.
 */
export async function checkDataDir(dataDir: string): Promise<CheckItem> {
  const problem = await writableProblem(dataDir);
  if (problem) return { component: 'data_dir', status: 'error', message: `${dataDir}: ${problem}; the server keeps its key, audit journal and spool there` };
  const [journaled, spooled] = await Promise.all([linesIn(join(dataDir, 'audit-journal'), /^segment-\d+\.jsonl$/), spoolBacklog(dataDir)]);
  const details = { data_dir: dataDir, journaled_events: journaled, spooled_events: spooled };
  const waiting = [
    journaled > 0 ? `${journaled} audit event${journaled === 1 ? '' : 's'} in the journal of a server that did not stop cleanly` : '',
    spooled > 0 ? `${spooled} in the spool (the store could not take them)` : '',
  ].filter(Boolean);
  const note = waiting.length > 0 ? `; ${waiting.join(' and ')}: the next start replays them into the store` : '';
  return { component: 'data_dir', status: 'ok', message: `${dataDir}: writable${note}`, details };
}

/** Why `dir` cannot be written (or created), or undefined. A missing dir needs its nearest existing parent writable. */
export async function writableProblem(dir: string): Promise<string | undefined> {
  let at = dir;
  for (;;) {
    try {
      if (!(await stat(at)).isDirectory()) return `${at} is not a directory`;
      break;
    } catch {
      if (dirname(at) === at) break;
      at = dirname(at);
    }
  }
  try {
    await access(at, constants.W_OK);
    return undefined;
  } catch {
    return at === dir ? 'not writable by this user' : `does not exist and ${at} is not writable by this user`;
  }
}

/** Whole events (lines that parse; a line a crash cut is skipped by the replay too). */
function events(text: string): number {
  let n = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      JSON.parse(line);
      n++;
    } catch {
      // cut by a crash
    }
  }
  return n;
}

/** Events in the files of `dir` whose names match. */
async function linesIn(dir: string, name: RegExp): Promise<number> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((f) => name.test(f));
  } catch {
    return 0;
  }
  let n = 0;
  for (const f of files) n += events(await readFile(join(dir, f), 'utf8'));
  return n;
}

/** Events in the audit spool past what the store has taken (src/server/audit/spool.ts). */
async function spoolBacklog(dataDir: string): Promise<number> {
  const dir = join(dataDir, 'audit-spool');
  let text: string;
  try {
    text = await readFile(join(dir, 'events.jsonl'), 'utf8');
  } catch {
    return 0;
  }
  const offset = Number((await readFile(join(dir, 'events.offset'), 'utf8').catch(() => '0')).trim()) || 0;
  return events(Buffer.from(text, 'utf8').subarray(offset).toString('utf8'));
}
