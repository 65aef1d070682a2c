import { setTimeout as sleep } from 'node:timers/promises';
import { type Key, render } from 'ink';
import { type PendingWire, pendingResponse } from '../../api/wire-pending.js';
import { CancelledError, GateError } from '../../errors.js';
import { decide } from '../commands/approve.js';
import type { CliContext } from '../context.js';
import { initialQueue, type QueueAction, type QueueItem, type QueueState, reduceQueue, selectedItem } from './queue-state.js';
import { Colored } from './components.js';
import { QueueView } from './queue-view.js';
import { inkStreams } from './streams.js';

/** Seconds the server holds one long-poll (it caps them at 60). */
const WAIT_S = 25;

/**
 * `gate approvals` on a terminal: the live queue. Resolves when the user
 * quits with `q`; rejects with CancelledError on Ctrl-C, and with the
 * error when the credential stops working (the exit code says which).
 */
export async function runQueue(ctx: CliContext, server: string, first: PendingWire): Promise<void> {
  const client = ctx.client(server);
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  let state: QueueState = initialQueue(first);
  let live: true | string = true;
  let finish!: (err?: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = (err) => (err ? reject(err) : resolve());
  });

  const view = () => (
    <Colored on={ctx.style.enabled}>
      <QueueView state={state} live={live} onKey={onKey} />
    </Colored>
  );
  const draw = () => instance.rerender(view());
  const dispatch = (a: QueueAction) => {
    state = reduceQueue(state, a);
    draw();
  };

  async function send(item: QueueItem, decision: 'approve' | 'deny', comment?: string) {
    dispatch({ type: 'busy', text: `${decision === 'approve' ? 'Approving' : 'Denying'} ${item.id}…` });
    try {
      const result = await decide(ctx, decision, item.id, { comment, server });
      const what = `${item.id} (${item.requester}: ${item.target}/${item.role})`;
      let text = `Denied ${what}${comment ? `: ${comment}` : ''}`;
      if (decision === 'approve' && 'grant' in result) {
        const g = result.grant;
        text = g.state === 'active' ? `Approved ${what}: active until ${g.expires_at}` : `Approval recorded for ${what}: ${g.approvals.length} of ${g.approvals_required}`;
      } else if (decision === 'approve') text = `Approved ${what}: the statement may run`;
      dispatch({ type: 'done', ok: true, text });
    } catch (err) {
      dispatch({ type: 'done', ok: false, text: err instanceof Error ? err.message : String(err) });
    }
  }

  function onKey(input: string, key: Key) {
    if (key.ctrl && input === 'c') return finish(new CancelledError());
    if (state.busy) return;
    const item = selectedItem(state);
    if (state.mode === 'reason') {
      if (key.escape) dispatch({ type: 'back' });
      else if (key.return && item) void send(item, 'deny', state.reason.trim() || undefined);
      else if (key.backspace || key.delete) dispatch({ type: 'erase' });
      else if (input && !key.ctrl && !key.meta) dispatch({ type: 'type', text: input });
      return;
    }
    if (input === 'q') return finish();
    if (key.upArrow || input === 'k') dispatch({ type: 'move', by: -1 });
    else if (key.downArrow || input === 'j') dispatch({ type: 'move', by: 1 });
    else if (key.return) dispatch(state.mode === 'list' ? { type: 'open' } : { type: 'back' });
    else if (key.escape || key.backspace || key.delete) dispatch({ type: 'back' });
    else if (input === 'a' && item) void send(item, 'approve');
    else if (input === 'd' && item) dispatch({ type: 'ask_reason' });
  }

  /** Long-polls for changes until the view closes; a lost server is shown and retried, a lost login ends the view. */
  async function follow(cursor: string) {
    while (!signal.aborted) {
      try {
        const next = await client.call('GET', '/v1/pending', pendingResponse, { query: { wait: WAIT_S, cursor }, signal, timeoutMs: (WAIT_S + 15) * 1000 });
        cursor = next.cursor;
        live = true;
        dispatch({ type: 'items', pending: next });
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof GateError && (err.code === 'GATE_ERR_AUTH_REQUIRED' || err.code === 'GATE_ERR_ACCESS_DENIED')) return finish(err);
        live = `not live: ${err instanceof Error ? err.message : String(err)} Retrying…`;
        draw();
        await sleep(2000, undefined, { signal }).catch(() => {});
      }
    }
  }

  const instance = render(view(), { ...inkStreams(ctx.io, 'stdout'), exitOnCtrlC: false, patchConsole: false });
  const onAbort = () => finish(new CancelledError());
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  void follow(first.cursor);
  try {
    await finished;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    stop.abort();
    instance.unmount();
    await instance.waitUntilExit().catch(() => {});
  }
}
