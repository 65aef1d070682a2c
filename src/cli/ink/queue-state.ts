import type { CommandApprovalWire, GrantWire } from '../../api/wire-grants.js';
import type { PendingWire } from '../../api/wire-pending.js';
import { formatDuration } from '../../config/duration.js';

/** One thing an approver may decide: a pending grant or a held statement. */
export interface QueueItem {
  kind: 'grant' | 'statement';
  id: string;
  requester: string;
  target: string;
  role: string;
  created_at: string;
  /** What the row shows after who and where: the duration and reason, or the statement's first line. */
  headline: string;
  grant?: GrantWire;
  approval?: CommandApprovalWire;
}

export type QueueMode = 'list' | 'details' | 'reason';

export interface QueueState {
  items: QueueItem[];
  recent: PendingWire['recent'];
  selected: number;
  mode: QueueMode;
  /** The deny reason being typed (mode `reason`). */
  reason: string;
  /** A decision in flight: keys wait until it is answered. */
  busy?: string;
  notice?: { ok: boolean; text: string };
}

export type QueueAction =
  | { type: 'items'; pending: PendingWire }
  | { type: 'move'; by: number }
  | { type: 'open' }
  | { type: 'back' }
  | { type: 'ask_reason' }
  | { type: 'type'; text: string }
  | { type: 'erase' }
  | { type: 'busy'; text: string }
  | { type: 'done'; ok: boolean; text: string };

const oneLine = (s: string) => s.split(/\r\n|\r|\n/)[0]!.trim();

/** Grants and statements in one list, oldest first, as the queue shows them. */
export function queueItems(p: PendingWire): QueueItem[] {
  const grants: QueueItem[] = p.grants.map((g) => ({
    kind: 'grant',
    id: g.id,
    requester: g.requester,
    target: g.target,
    role: g.role,
    created_at: g.created_at,
    headline: `for ${formatDuration(g.duration)}${g.reason ? `: ${oneLine(g.reason)}` : ''}`,
    grant: g,
  }));
  const statements: QueueItem[] = p.approvals.map((a) => ({
    kind: 'statement',
    id: a.id,
    requester: a.requester,
    target: a.target,
    role: a.role,
    created_at: a.created_at,
    headline: `${a.text.includes('\n') ? `${oneLine(a.text)} …` : oneLine(a.text)}`,
    approval: a,
  }));
  return [...grants, ...statements].sort((x, y) => x.created_at.localeCompare(y.created_at));
}

export const initialQueue = (pending: PendingWire): QueueState => ({ items: queueItems(pending), recent: pending.recent, selected: 0, mode: 'list', reason: '' });

export const selectedItem = (s: QueueState): QueueItem | undefined => s.items[s.selected];

/** The queue's state after a key or a server answer; pure, so the keys can be tested without a terminal. */
export function reduceQueue(s: QueueState, a: QueueAction): QueueState {
  switch (a.type) {
    case 'items': {
      // Stay on the same item when others come or go; when it went, stay at its place.
      const current = selectedItem(s)?.id;
      const items = queueItems(a.pending);
      const kept = items.findIndex((i) => i.id === current);
      const selected = kept >= 0 ? kept : Math.max(0, Math.min(s.selected, items.length - 1));
      const gone = kept < 0 && s.mode !== 'list';
      return { ...s, items, recent: a.pending.recent, selected, mode: gone ? 'list' : s.mode, reason: gone ? '' : s.reason };
    }
    case 'move':
      if (s.mode !== 'list' || s.items.length === 0) return s;
      return { ...s, selected: (s.selected + a.by + s.items.length) % s.items.length };
    case 'open':
      return s.items.length > 0 && s.mode === 'list' ? { ...s, mode: 'details' } : s;
    case 'back':
      return { ...s, mode: 'list', reason: '' };
    case 'ask_reason':
      return s.items.length > 0 ? { ...s, mode: 'reason', reason: '' } : s;
    case 'type':
      return s.mode === 'reason' ? { ...s, reason: s.reason + a.text.replace(/[\r\n\t]+/g, ' ') } : s;
    case 'erase':
      return s.mode === 'reason' ? { ...s, reason: [...s.reason].slice(0, -1).join('') } : s;
    case 'busy':
      return { ...s, busy: a.text, notice: undefined };
    case 'done':
      return { ...s, busy: undefined, notice: { ok: a.ok, text: a.text }, mode: a.ok ? 'list' : s.mode, reason: a.ok ? '' : s.reason };
  }
}
