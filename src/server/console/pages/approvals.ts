import type { CommandApproval, Grant } from '../../grants/types.js';
import { approvalCard, grantCard } from '../cards.js';
import { html } from '../html.js';
import { notice, page } from '../layout.js';
import type { PageContext } from './context.js';

/** Pending grants and held statements the viewer may decide, then the viewer's own pending ones. */
export async function approvalsPage(p: PageContext): Promise<string> {
  const [grants, approvals, pending] = await Promise.all([
    p.api<{ grants: Grant[] }>('GET', '/v1/grants?state=pending'),
    p.api<{ approvals: CommandApproval[] }>('GET', '/v1/approvals?state=pending'),
    // Only for the requesters' recent grants, shown next to what they ask for now.
    p.api<{ recent?: Record<string, Grant[]> }>('GET', '/v1/pending'),
  ]);
  const recent = pending.body.recent ?? {};
  const v = p.viewer;
  const own = (key: string | undefined, sub: string) => key === v.key || (!key && sub === v.sub);
  const allGrants = grants.body.grants ?? [];
  const allHeld = approvals.body.approvals ?? [];
  const theirGrants = allGrants.filter((g) => !own(g.requester_key, g.requester));
  const theirHeld = allHeld.filter((a) => !own(a.requester_key, a.requester));
  const mineGrants = allGrants.filter((g) => own(g.requester_key, g.requester));
  const mineHeld = allHeld.filter((a) => own(a.requester_key, a.requester));
  const back = '/ui/approvals';
  const body = html`${notice('error', p.flash.error)}${notice('ok', p.flash.ok)}
<div id="live-region" aria-live="polite">
<section aria-labelledby="s-requests"><h2 id="s-requests">Access requests</h2>
${theirGrants.length ? theirGrants.map((g) => grantCard(v, g, back, recent[g.requester])) : html`<p class="empty">No access request is waiting for you.</p>`}
</section>
<section aria-labelledby="s-held"><h2 id="s-held">Statements held for approval</h2>
${theirHeld.length ? theirHeld.map((a) => approvalCard(v, a, back, recent[a.requester])) : html`<p class="empty">No statement is waiting for you.</p>`}
</section>
${
  mineGrants.length || mineHeld.length
    ? html`<section aria-labelledby="s-mine"><h2 id="s-mine">Your own, waiting for others</h2>
${mineGrants.map((g) => grantCard(v, g, back))}${mineHeld.map((a) => approvalCard(v, a, back))}</section>`
    : ''
}
</div>`;
  return page({ title: 'Approvals', section: 'approvals', viewer: v, body, live: true });
}

/** One held statement (the link a notification carries). */
export async function approvalPage(p: PageContext, id: string): Promise<string> {
  const res = await p.api<{ approval: CommandApproval }>('GET', `/v1/approvals/${encodeURIComponent(id)}`);
  if (!res.ok) return p.apiError(res.status, res.body.error?.message ?? 'Not found.');
  const body = html`${notice('error', p.flash.error)}${notice('ok', p.flash.ok)}<div id="live-region" aria-live="polite">${approvalCard(p.viewer, res.body.approval, `/ui/approvals/${id}`)}</div>`;
  return page({ title: `Held statement ${id}`, section: 'approvals', viewer: p.viewer, body, live: true });
}
