import { type Html, html } from '../html.js';
import { notice, page, when } from '../layout.js';
import type { PageContext } from './context.js';

interface AuditEvent {
  id: string;
  time: string;
  actor: string | null;
  action: string;
  target: string | null;
  role: string | null;
  grant_id: string | null;
  session_id: string | null;
  result: string;
  details: unknown;
}

interface VerifyAnswer {
  ok: boolean;
  events: number;
  broken?: { id: string; seq: number; reason: string };
  checkpoints?: { checked: number; failure?: { reason: string } };
}

const FIELDS = ['user', 'target', 'action', 'since', 'until'] as const;

/** datetime-local inputs send no zone; read them as UTC, which is what the page shows. */
const isoOf = (v: string) => (/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v) ? `${v}Z` : v);

function verifyResult(v: VerifyAnswer | undefined, message: string | undefined): Html {
  if (!v) return html`<p class="muted">${message ?? 'Only admins may verify the audit log.'}</p>`;
  if (v.ok) return html`<p class="notice ok" role="status">✓ The audit chain verifies: ${v.events} events${v.checkpoints ? `, ${v.checkpoints.checked} signed checkpoints hold` : ''}.</p>`;
  return html`<p class="notice error" role="alert">✗ The audit chain does not verify${v.broken ? `: event #${v.broken.seq} (${v.broken.id}) ${v.broken.reason}` : ''}${v.checkpoints?.failure ? `; ${v.checkpoints.failure.reason}` : ''}.</p>`;
}

/** The audit log as `gate audit` shows it, filtered; for admins, `gate audit verify`'s result. */
export async function auditPage(p: PageContext): Promise<string> {
  const values = Object.fromEntries(FIELDS.map((f) => [f, (p.query[f] ?? '').trim()])) as Record<(typeof FIELDS)[number], string>;
  const params = new URLSearchParams({ limit: '500' });
  if (values.user) params.set('user', values.user);
  if (values.target) params.set('target', values.target);
  if (values.action) params.set('action', values.action);
  if (values.since) params.set('since', isoOf(values.since));
  if (values.until) params.set('until', isoOf(values.until));
  const [list, verify] = await Promise.all([
    p.api<{ events: AuditEvent[] }>('GET', `/v1/audit?${params}`),
    p.viewer.admin ? p.api<VerifyAnswer>('GET', '/v1/audit/verify') : Promise.resolve(undefined),
  ]);
  const events = [...(list.body.events ?? [])].reverse();
  const body = html`<section aria-labelledby="s-verify"><h2 id="s-verify">Chain</h2>${verifyResult(verify?.ok ? verify.body : undefined, verify?.body.error?.message)}</section>
<form class="filters" method="get" action="/ui/audit" role="search" aria-label="Filter the audit log">
  <div><label for="a-user">User</label><input id="a-user" name="user" value="${values.user}"></div>
  <div><label for="a-target">Target</label><input id="a-target" name="target" value="${values.target}"></div>
  <div><label for="a-action">Action</label><input id="a-action" name="action" value="${values.action}" placeholder="grant.*,pg.query"></div>
  <div><label for="a-since">Since (UTC)</label><input id="a-since" name="since" type="datetime-local" step="1" value="${values.since}"></div>
  <div><label for="a-until">Until (UTC)</label><input id="a-until" name="until" type="datetime-local" step="1" value="${values.until}"></div>
  <div class="actions"><button type="submit">Filter</button></div>
</form>
${notice('error', list.ok ? undefined : list.body.error?.message)}
${
  events.length
    ? html`<table class="audit"><caption class="sr">Audit events, newest first</caption>
<thead><tr><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Result</th><th scope="col">Target</th><th scope="col">Grant / session</th><th scope="col">Details</th></tr></thead>
<tbody>${events.map(
        (e) => html`<tr><td>${when(e.time)}</td><td>${e.actor ?? 'system'}</td><td>${e.action}</td><td class="${e.result}">${e.result}</td><td>${e.target ?? ''}${e.role ? `/${e.role}` : ''}</td>
<td>${e.grant_id ? html`<a href="/ui/grants/${e.grant_id}">${e.grant_id}</a>` : ''}${e.session_id ? html` <a href="/ui/sessions/${e.session_id}">${e.session_id.slice(0, 8)}</a>` : ''}</td>
<td><code class="details">${JSON.stringify(e.details)}</code></td></tr>`,
      )}</tbody></table>`
    : list.ok
      ? html`<p class="empty">No event matches.</p>`
      : ''
}`;
  return page({ title: 'Audit', section: 'audit', viewer: p.viewer, body });
}
