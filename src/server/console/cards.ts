import type { CommandApproval, Grant } from '../grants/types.js';
import { type Html, html } from './html.js';
import { form, seconds, type Viewer, when } from './layout.js';
import { highlightSql } from './sql-highlight.js';

export interface ViewerKey extends Viewer {
  key: string;
}

const mine = (v: ViewerKey, requesterKey: string | undefined, requester: string) => requesterKey === v.key || (!requesterKey && requester === v.sub);
const approves = (v: ViewerKey, approvers: string[]) => v.groups.some((g) => approvers.includes(g));

function decide(v: ViewerKey, action: string, id: string, back: string, label: string): Html {
  const field = `comment-${id}`;
  return form(
    v,
    action,
    back,
    html`<label for="${field}">Comment <span class="muted">(optional)</span></label>
<textarea id="${field}" name="comment" rows="2" maxlength="1000"></textarea>
<div class="actions">
  <button type="submit" name="decision" value="approve" class="approve">Approve</button>
  <button type="submit" name="decision" value="deny" class="deny">Deny</button>
</div>`,
    label,
  );
}

function why(v: ViewerKey, requesterKey: string | undefined, requester: string, approvers: string[]): Html {
  if (mine(v, requesterKey, requester)) return html`<p class="muted">This is your own request: someone in ${approvers.join(', ') || 'the approver groups'} decides.</p>`;
  return html`<p class="muted">Only members of ${approvers.join(', ') || 'no group'} may decide this.</p>`;
}

/** A grant: who, what, how long, why; approve/deny for its approvers, revoke when active. */
/** The requester's latest grants (newest first), so an approver sees their recent activity. */
function recentGrants(recent: Grant[] | undefined): Html {
  if (recent === undefined) return html``;
  const items = recent.map(
    (g) => html`<li><a href="/ui/grants/${g.id}">${g.target}/${g.role}</a> <span class="state ${g.state}">${g.state}</span> ${when(g.created_at)}${g.reason ? html` · ${g.reason}` : ''}</li>`,
  );
  return html`<dt>Recent grants</dt><dd>${items.length ? html`<ul class="recent">${items}</ul>` : html`<span class="muted">none</span>`}</dd>`;
}

export function grantCard(v: ViewerKey, g: Grant, back: string, recent?: Grant[]): Html {
  const canDecide = g.state === 'pending' && approves(v, g.approvers) && !mine(v, g.requester_key, g.requester);
  return html`<article class="card" id="grant-${g.id}" data-grant="${g.id}" aria-labelledby="h-${g.id}">
<h3 id="h-${g.id}"><a href="/ui/grants/${g.id}">${g.requester}</a> requests <strong>${g.target}</strong>/<strong>${g.role}</strong> <span class="state ${g.state}">${g.state}</span></h3>
<dl>
  <dt>Requester</dt><dd>${g.requester}${g.requester_email ? html` &lt;${g.requester_email}&gt;` : ''}</dd>
  <dt>Target</dt><dd>${g.target}</dd>
  <dt>Role</dt><dd>${g.role}</dd>
  <dt>Duration</dt><dd>${seconds(g.duration)}${g.duration_capped ? html` <span class="muted">(capped from ${seconds(g.requested_duration)})</span>` : ''}</dd>
  <dt>Reason</dt><dd class="reason">${g.reason ?? html`<span class="muted">none given</span>`}</dd>
  <dt>Policy</dt><dd>${g.policy}</dd>
  <dt>Approvals</dt><dd>${g.approvals.length} of ${g.approvals_required}${g.approvals.map((a) => html` · ${a.by}${a.comment ? html` (“${a.comment}”)` : ''}`)}</dd>
  <dt>Requested</dt><dd>${when(g.created_at)}</dd>
  ${g.expires_at ? html`<dt>${g.state === 'active' ? 'Expires' : 'Expired'}</dt><dd>${when(g.expires_at)}</dd>` : ''}
  ${g.ended_by ? html`<dt>Ended by</dt><dd>${g.ended_by}${g.comment ? html` (“${g.comment}”)` : ''}</dd>` : ''}
  ${recentGrants(recent)}
</dl>
${canDecide ? decide(v, `/ui/grants/${g.id}/decide`, g.id, back, `Decide on ${g.requester}'s request for ${g.target}/${g.role}`) : g.state === 'pending' ? why(v, g.requester_key, g.requester, g.approvers) : ''}
${
  g.state === 'active'
    ? form(
        v,
        `/ui/grants/${g.id}/revoke`,
        back,
        html`<label for="rc-${g.id}">Comment <span class="muted">(optional)</span></label>
<input id="rc-${g.id}" name="comment" maxlength="1000">
<div class="actions"><button type="submit" class="deny">Revoke</button></div>`,
        `Revoke ${g.requester}'s grant for ${g.target}/${g.role}`,
      )
    : ''
}
</article>`;
}

function summary(a: CommandApproval): Html {
  if (!a.summary || a.summary.length === 0) return html`<p class="muted">The parser gave no summary for this statement.</p>`;
  return html`<table class="summary"><caption>What the parser sees</caption>
<thead><tr><th scope="col">Command</th><th scope="col">Tables</th><th scope="col">Filtered</th></tr></thead>
<tbody>${a.summary.map(
    (s) => html`<tr><td>${s.tag}</td><td>${s.tables.join(', ') || html`<span class="muted">none</span>`}</td><td>${s.filtered === undefined ? '–' : s.filtered ? 'yes' : html`<strong>no: every row</strong>`}</td></tr>`,
  )}</tbody></table>`;
}

/** A statement held by a require_approval guardrail: the whole text, the parser's summary, the decision. */
export function approvalCard(v: ViewerKey, a: CommandApproval, back: string, recent?: Grant[]): Html {
  const canDecide = a.state === 'pending' && approves(v, a.approvers) && !mine(v, a.requester_key, a.requester);
  return html`<article class="card" id="approval-${a.id}" data-approval="${a.id}" aria-labelledby="h-${a.id}">
<h3 id="h-${a.id}"><a href="/ui/approvals/${a.id}">${a.requester}</a> wants to run a statement on <strong>${a.target}</strong>/<strong>${a.role}</strong> <span class="state ${a.state}">${a.state}</span></h3>
<dl>
  <dt>Requester</dt><dd>${a.requester}</dd>
  <dt>Target</dt><dd>${a.target}</dd>
  <dt>Role</dt><dd>${a.role}</dd>
  <dt>Held by</dt><dd>${a.message ?? a.rule}</dd>
  <dt>Grant</dt><dd><a href="/ui/grants/${a.grant_id}">${a.grant_id}</a></dd>
  <dt>Held at</dt><dd>${when(a.created_at)}</dd>
  ${a.decided_by ? html`<dt>Decided by</dt><dd>${a.decided_by}${a.comment ? html` (“${a.comment}”)` : ''}</dd>` : ''}
  ${recentGrants(recent)}
</dl>
<h4>Statement</h4>
${highlightSql(a.text)}
${summary(a)}
${canDecide ? decide(v, `/ui/approvals/${a.id}/decide`, a.id, back, `Decide on ${a.requester}'s statement on ${a.target}`) : a.state === 'pending' ? why(v, a.requester_key, a.requester, a.approvers) : ''}
</article>`;
}
