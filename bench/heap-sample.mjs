/**
 * Allocation sampling for a gate server under bench/pg.js: every allocation
 * of the run, including what the garbage collector has already freed (which
 * `--heap-prof` leaves out: it reports what is still alive at exit), as a
 * .heapprofile that Chrome DevTools opens (Memory tab, "Load profile").
 *
 *   BENCH_NODE_ARGS="--import $PWD/bench/heap-sample.mjs" BENCH_HEAP_DIR=/tmp/heap BENCH_ONLY=rate node bench/pg.js
 *
 * Only `gate dev` processes are sampled (the CLI's allocations are the
 * tunnel's). One file per process, written at exit.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_HEAP_DIR;
if (dir && process.argv.includes('dev')) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  process.on('exit', () => {
    // The in-process session answers synchronously, so this runs before the process goes.
    session.post('HeapProfiler.stopSampling', (err, result) => {
      if (!err) writeFileSync(join(dir, `server-${process.pid}.heapprofile`), JSON.stringify(result.profile));
    });
  });
}
