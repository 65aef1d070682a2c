import { describe, expect, it } from 'vitest';
import type { CommandApprovalWire, GrantWire } from '../../src/api/wire-grants.js';
import type { PendingWire } from '../../src/api/wire-pending.js';
import { initialQueue, queueItems, reduceQueue, selectedItem } from '../../src/cli/ink/queue-state.js';

const grant = (id: string, at: string, reason?: string): GrantWire => ({
  id,
  target: 'db-prod',
  role: 'write',
  state: 'pending',
  requester: 'alice',
  reason,
  policy: 'eng-write',
  approvers: ['dba-oncall'],
  approvals_required: 1,
  approvals: [],
  requested_duration: 1800,
  duration: 1800,
  duration_capped: false,
  created_at: at,
  updated_at: at,
});

const held = (id: string, at: string, text: string): CommandApprovalWire => ({
  id,
  grant_id: 'g_1',
  target: 'db-prod',
  role: 'read',
  requester: 'alice',
  text,
  normalized: text,
  rule: 'delete',
  state: 'pending',
  approvers: ['dba-oncall'],
  created_at: at,
});

const pending = (grants: GrantWire[], approvals: CommandApprovalWire[] = []): PendingWire => ({ grants, approvals, recent: {}, cursor: 'c' });

describe('the approvals queue', () => {
  it('lists grants and held statements together, oldest first, with what each is about', () => {
    const items = queueItems(pending([grant('g_b', '2026-01-01T00:02:00Z', 'INC-42')], [held('a_a', '2026-01-01T00:01:00Z', 'delete from t\nwhere id = 1')]));
    expect(items.map((i) => [i.id, i.kind, i.headline])).toEqual([
      ['a_a', 'statement', 'delete from t …'],
      ['g_b', 'grant', 'for 30m: INC-42'],
    ]);
  });

  it('moves with the arrows, wrapping around, and keeps the selection on the same item when the list changes', () => {
    const one = grant('g_1', '2026-01-01T00:01:00Z');
    const two = grant('g_2', '2026-01-01T00:02:00Z');
    let s = initialQueue(pending([one, two]));
    s = reduceQueue(s, { type: 'move', by: -1 });
    expect(selectedItem(s)?.id).toBe('g_2');
    // A newer request arrives before it: still on g_2.
    s = reduceQueue(s, { type: 'items', pending: pending([grant('g_0', '2026-01-01T00:00:00Z'), one, two]) });
    expect(selectedItem(s)?.id).toBe('g_2');
    // g_2 was decided elsewhere while its details were open: back to the list, on the item in its place.
    s = reduceQueue(s, { type: 'open' });
    s = reduceQueue(s, { type: 'items', pending: pending([grant('g_0', '2026-01-01T00:00:00Z'), one]) });
    expect(s.mode).toBe('list');
    expect(selectedItem(s)?.id).toBe('g_1');
  });

  it('collects a deny reason, erases, and forgets it on escape', () => {
    let s = initialQueue(pending([grant('g_1', '2026-01-01T00:01:00Z')]));
    s = reduceQueue(s, { type: 'ask_reason' });
    s = reduceQueue(s, { type: 'type', text: 'not now!' });
    s = reduceQueue(s, { type: 'erase' });
    expect(s).toMatchObject({ mode: 'reason', reason: 'not now' });
    s = reduceQueue(s, { type: 'back' });
    expect(s).toMatchObject({ mode: 'list', reason: '' });
    // Typing outside the reason field does nothing.
    expect(reduceQueue(s, { type: 'type', text: 'x' }).reason).toBe('');
  });

  it('keeps a failed decision on screen with its reason still typed', () => {
    let s = initialQueue(pending([grant('g_1', '2026-01-01T00:01:00Z')]));
    s = reduceQueue(reduceQueue(s, { type: 'ask_reason' }), { type: 'type', text: 'freeze' });
    s = reduceQueue(s, { type: 'busy', text: 'Denying g_1…' });
    s = reduceQueue(s, { type: 'done', ok: false, text: 'Only members of dba-oncall may deny grant g_1.' });
    expect(s).toMatchObject({ mode: 'reason', reason: 'freeze', busy: undefined, notice: { ok: false } });
  });

  it('does nothing on an empty queue', () => {
    const s = initialQueue(pending([]));
    expect(reduceQueue(s, { type: 'move', by: 1 })).toBe(s);
    expect(reduceQueue(s, { type: 'open' })).toBe(s);
    expect(reduceQueue(s, { type: 'ask_reason' })).toBe(s);
  });
});
