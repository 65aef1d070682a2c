/**
 * A Slack incoming-webhook message (Block Kit) for one notification:
 * `{ text, blocks }`, with a header, the who/what/how-long fields, the reason,
 * the held statement as a code block, a "Review in gate" button into the
 * console, and a context line with the ids.
 */
import type { NotificationPayload } from './payload.js';

export interface SlackMessage {
  text: string;
  blocks: Record<string, unknown>[];
}

const TITLES: Record<string, string> = {
  'grant.requested': 'Access requested',
  'grant.approved': 'Access approved',
  'grant.denied': 'Access request denied',
  'grant.revoked': 'Access revoked',
  'grant.expired': 'Access expired',
  'grant.cancelled': 'Access request cancelled',
  'approval.requested': 'Statement held for approval',
  'approval.approved': 'Held statement approved',
  'approval.denied': 'Held statement denied',
};

// Slack's limits: header text 150 characters, section text 3000, field text 2000.
const MAX_HEADER = 150;
const MAX_STATEMENT = 2800;
const MAX_FIELD = 1900;

/** Slack mrkdwn needs only these three escaped (api.slack.com "Formatting text"). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function slackMessage(p: NotificationPayload): SlackMessage {
  const title = TITLES[p.event] ?? p.event;
  const subject = p.approval ?? p.grant;
  const target = subject?.target ?? '?';
  const role = subject?.role ?? '?';
  const requester = subject?.requester ?? '?';
  const duration = p.approval ? p.approval.duration : (p.grant?.duration ?? null);
  const reason = p.approval ? p.approval.reason : (p.grant?.reason ?? null);
  const fields = [
    field('Requester', requester),
    field('Target', target),
    field('Role', role),
    field('Duration', duration === null ? 'n/a' : formatSeconds(duration)),
  ];
  const by = p.grant?.by ?? p.approval?.decided_by;
  if (by) fields.push(field(p.event.endsWith('.revoked') ? 'Revoked by' : 'Decided by', by));
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(`${title}: ${target} (${role})`, MAX_HEADER), emoji: false } },
    { type: 'section', fields },
    { type: 'section', text: { type: 'mrkdwn', text: `*Reason*\n${reason ? escapeMrkdwn(cut(reason, MAX_FIELD)) : '_none given_'}` } },
  ];
  if (p.approval) {
    const tags = p.approval.summary.map((s) => `${s.tag}${s.tables.length ? ` ${s.tables.join(', ')}` : ''}`).join('; ');
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Statement*${tags ? ` (${escapeMrkdwn(tags)})` : ''}\n${codeBlock(p.approval.statement)}` } });
  }
  const link = p.links.console;
  if (link) {
    blocks.push({
      type: 'actions',
      elements: [{ type: 'button', action_id: 'gate_review', text: { type: 'plain_text', text: 'Review in gate', emoji: false }, url: link }],
    });
  }
  const ids = p.approval ? `approval ${p.approval.id} · grant ${p.approval.grant_id}` : `grant ${p.grant?.id ?? '?'}`;
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: escapeMrkdwn(`gate · ${ids} · ${p.event} · ${p.at}`) }] });
  const text = `${title}: ${requester} on ${target} (${role})${link ? ` ${link}` : ''}`;
  return { text: escapeMrkdwn(text), blocks };
}

function field(label: string, value: string): { type: 'mrkdwn'; text: string } {
  return { type: 'mrkdwn', text: `*${label}*\n${escapeMrkdwn(cut(value, MAX_FIELD))}` };
}

/** A statement as a code block: escaped, and a ``` inside it cannot close the block early. */
function codeBlock(statement: string): string {
  const body = escapeMrkdwn(cut(statement, MAX_STATEMENT)).replace(/```/g, '`\u200b`\u200b`');
  return `\`\`\`${body}\`\`\``;
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 14)}… (truncated)`;
}

/** 3600 → `1h`, 5400 → `1h30m`, 45 → `45s`. */
export function formatSeconds(total: number): string {
  const parts: string[] = [];
  let s = Math.round(total);
  for (const [unit, n] of [['d', 86_400], ['h', 3600], ['m', 60]] as const) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)}${unit}`);
      s %= n;
    }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return parts.join('');
}
