import type { SessionWire } from '../../../api/wire-sessions.js';
import { type Html, html } from '../html.js';
import { notice, page, when } from '../layout.js';
import { highlightSql } from '../sql-highlight.js';
import type { PageContext } from './context.js';

interface TimelineEvent {
  id: string;
  time: string;
  action: string;
  result: string;
  actor: string | null;
  details: Record<string, unknown> | string;
}

const field = (p: PageContext, name: string) => (p.query[name] ?? '').trim();

/** Sessions the viewer may read (as `GET /v1/sessions` decides), filtered by target, user and free text. */
export async function sessionsPage(p: PageContext): Promise<string> {
  const target = field(p, 'target');
  const user = field(p, 'user');
  const q = field(p, 'q').toLowerCase();
  const params = new URLSearchParams({ limit: '200', ...(target ? { target } : {}), ...(user ? { user } : {}) });
  const res = await p.api<{ sessions: SessionWire[] }>('GET', `/v1/sessions?${params}`);
  const rows = (res.body.sessions ?? []).filter(
    (s) => !q || [s.id, s.user, s.target, s.command, s.title ?? '', s.kind].some((t) => t.toLowerCase().includes(q)),
  );
  const body = html`${notice('error', res.ok ? undefined : res.body.error?.message)}
<form class="filters" method="get" action="/ui/sessions" role="search" aria-label="Search sessions">
  <div><label for="f-q">Search</label><input id="f-q" name="q" value="${field(p, 'q')}" placeholder="command, user, target, id"></div>
  <div><label for="f-target">Target</label><input id="f-target" name="target" value="${target}"></div>
  <div><label for="f-user">User</label><input id="f-user" name="user" value="${user}"></div>
  <div class="actions"><button type="submit">Search</button></div>
</form>
${
  rows.length
    ? html`<table><caption class="sr">Recorded sessions</caption>
<thead><tr><th scope="col">Started</th><th scope="col">User</th><th scope="col">Target</th><th scope="col">Kind</th><th scope="col">Command</th><th scope="col">Exit</th></tr></thead>
<tbody>${rows.map(
        (s) => html`<tr><td><a href="/ui/sessions/${s.id}">${when(s.started_at)}</a></td><td>${s.user}</td><td>${s.target}</td><td>${s.kind}</td><td><code>${s.command}</code></td><td>${s.closed ? String(s.exit_code ?? '') : html`<span class="state active">open</span>`}${s.incomplete ? ' (incomplete)' : ''}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="empty">No session matches.</p>`
}`;
  return page({ title: 'Sessions', section: 'sessions', viewer: p.viewer, body });
}

function describe(e: TimelineEvent): Html {
  const d = typeof e.details === 'object' && e.details ? e.details : {};
  const s = (k: string) => (typeof d[k] === 'string' ? (d[k] as string) : undefined);
  if (s('statement') !== undefined) {
    const tables = Array.isArray(d.tables) ? (d.tables as string[]).join(', ') : '';
    return html`${highlightSql(s('statement')!)}${s('command') ? html`<p class="muted">${s('command')}${tables ? ` on ${tables}` : ''}${s('decision') && s('decision') !== 'allowed' ? ` · ${s('decision')}` : ''}</p>` : ''}`;
  }
  if (e.action === 'mcp.tool_call') {
    return html`<p><strong>${s('tool') ?? 'tool'}</strong> → ${s('outcome') ?? e.result}</p><pre class="json">${JSON.stringify(d.arguments ?? {}, null, 2)}</pre>${s('message') ? html`<p class="muted">${s('message')}</p>` : ''}`;
  }
  const bits = ['method', 'verb', 'resource', 'namespace', 'name', 'path', 'status', 'reason', 'command']
    .map((k) => (d[k] !== undefined && d[k] !== null ? `${k}: ${Array.isArray(d[k]) ? (d[k] as unknown[]).join(' ') : String(d[k])}` : ''))
    .filter(Boolean);
  return html`<p class="muted">${bits.join(' · ')}</p>`;
}

/** A session's replay: the recording in asciinema-player beside the gateway's events on one timeline. */
export async function sessionPage(p: PageContext, id: string): Promise<string> {
  const res = await p.api<{ session: SessionWire; events: TimelineEvent[] }>('GET', `/v1/sessions/${encodeURIComponent(id)}`);
  if (!res.ok) return p.apiError(res.status, res.body.error?.message ?? 'Not found.');
  const { session: s, events } = res.body;
  const start = Date.parse(s.started_at);
  const at = (e: TimelineEvent) => Math.max(0, (Date.parse(e.time) - start) / 1000);
  const hasCast = s.kind !== 'mcp' && s.chunks > 0;
  const body = html`<p>${s.user} on <strong>${s.target}</strong> · <code>${s.command}</code> · started ${when(s.started_at)}${s.ended_at ? html` · ended ${when(s.ended_at)}` : ''}${s.exit_code !== null ? ` · exit ${s.exit_code}` : ''}</p>
<div class="replay${hasCast ? '' : ' events-only'}">
  ${
    hasCast
      ? html`<section aria-labelledby="s-player" class="player-pane"><h2 id="s-player">Recording</h2>
  <div id="player" data-cast="/ui/sessions/${s.id}/recording.cast" data-cols="${s.width}" data-rows="${s.height}"></div></section>`
      : ''
  }
  <section aria-labelledby="s-timeline" class="timeline-pane"><h2 id="s-timeline">${s.kind === 'mcp' ? 'Tool calls' : 'What the gateway saw'}</h2>
  ${
    events.length
      ? html`<ol class="timeline">${events.map(
          (e) => html`<li class="ev ${e.result}" data-action="${e.action}">
  ${hasCast ? html`<button type="button" class="seek" data-seek="${at(e).toFixed(3)}" aria-label="Play from ${at(e).toFixed(1)} s: ${e.action}">${at(e).toFixed(1)} s</button>` : html`<span class="t">${at(e).toFixed(1)} s</span>`}
  <span class="action">${e.action}</span> <span class="result">${e.result}</span>
  ${describe(e)}
</li>`,
        )}</ol>`
      : html`<p class="empty">The gateway recorded no event for this session.</p>`
  }
  </section>
</div>`;
  const head = hasCast ? html`<link rel="stylesheet" href="/ui/assets/player/asciinema-player.css"><script src="/ui/assets/player/asciinema-player.min.js" defer></script>` : undefined;
  return page({ title: `Session ${s.id.slice(0, 8)}`, section: 'sessions', viewer: p.viewer, body, head });
}
