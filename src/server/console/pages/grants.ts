import type { Grant } from '../../grants/types.js';
import { grantCard } from '../cards.js';
import { html } from '../html.js';
import { form, notice, page, seconds, when } from '../layout.js';
import type { PageContext } from './context.js';

const RECENT = 50;

/** Active grants (revoke) and the most recent others the viewer may see. */
export async function grantsPage(p: PageContext): Promise<string> {
  const res = await p.api<{ grants: Grant[] }>('GET', '/v1/grants?all=1');
  const all = (res.body.grants ?? []).sort((a, b) => b.created_at.localeCompare(a.created_at));
  const active = all.filter((g) => g.state === 'active');
  const recent = all.filter((g) => g.state !== 'active').slice(0, RECENT);
  const v = p.viewer;
  const back = '/ui/grants';
  const body = html`${notice('error', p.flash.error)}${notice('ok', p.flash.ok)}
<div id="live-region" aria-live="polite">
<section aria-labelledby="s-active"><h2 id="s-active">Active</h2>
${
  active.length
    ? html`<table><caption class="sr">Active grants</caption>
<thead><tr><th scope="col">Grant</th><th scope="col">Requester</th><th scope="col">Target/role</th><th scope="col">Expires</th><th scope="col">Reason</th><th scope="col"><span class="sr">Action</span></th></tr></thead>
<tbody>${active.map(
        (g) => html`<tr id="grant-${g.id}"><td><a href="/ui/grants/${g.id}">${g.id}</a></td><td>${g.requester}</td><td>${g.target}/${g.role}</td><td>${when(g.expires_at)}</td><td>${g.reason ?? ''}</td>
<td>${form(v, `/ui/grants/${g.id}/revoke`, back, html`<button type="submit" class="deny">Revoke</button>`, `Revoke grant ${g.id}`)}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="empty">No active grant you can see.</p>`
}
</section>
<section aria-labelledby="s-recent"><h2 id="s-recent">Recent</h2>
${
  recent.length
    ? html`<table><caption class="sr">Recent grants</caption>
<thead><tr><th scope="col">Grant</th><th scope="col">State</th><th scope="col">Requester</th><th scope="col">Target/role</th><th scope="col">Duration</th><th scope="col">Requested</th></tr></thead>
<tbody>${recent.map(
        (g) => html`<tr id="grant-${g.id}"><td><a href="/ui/grants/${g.id}">${g.id}</a></td><td><span class="state ${g.state}">${g.state}</span></td><td>${g.requester}</td><td>${g.target}/${g.role}</td><td>${seconds(g.duration)}</td><td>${when(g.created_at)}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="empty">No grant yet.</p>`
}
</section>
</div>`;
  return page({ title: 'Grants', section: 'grants', viewer: v, body, live: true });
}

/** One grant (the link a notification carries). */
export async function grantPage(p: PageContext, id: string): Promise<string> {
  const res = await p.api<{ grant: Grant }>('GET', `/v1/grants/${encodeURIComponent(id)}`);
  if (!res.ok) return p.apiError(res.status, res.body.error?.message ?? 'Not found.');
  const body = html`${notice('error', p.flash.error)}${notice('ok', p.flash.ok)}<div id="live-region" aria-live="polite">${grantCard(p.viewer, res.body.grant, `/ui/grants/${id}`)}</div>`;
  return page({ title: `Grant ${id}`, section: 'grants', viewer: p.viewer, body, live: true });
}
