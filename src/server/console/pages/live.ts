import { isAdmin } from '../../auth.js';
import type { Caller, ServerContext } from '../../context.js';
import { targetsApprovedBy } from '../../grants/policy.js';
import { isSelf } from '../../identity/principal.js';
import type { LiveTunnel, TunnelRegistry } from '../../tunnel-endpoint.js';
import { html } from '../html.js';
import { form, notice, page, when } from '../layout.js';
import type { PageContext } from './context.js';

/** Admins and the target's approvers may cut a tunnel (the same people who may revoke its grant). */
export function mayTerminate(ctx: ServerContext, caller: Caller, t: LiveTunnel): boolean {
  return isAdmin(ctx, caller) || targetsApprovedBy(ctx.config, caller).includes(t.target);
}

/** Tunnels the caller sees: their own, and those they may terminate. */
export function visibleTunnels(ctx: ServerContext, caller: Caller, tunnels: TunnelRegistry): LiveTunnel[] {
  return tunnels.list().filter((t) => isSelf(t.userKey, caller) || mayTerminate(ctx, caller, t));
}

export function livePage(p: PageContext, caller: Caller): string {
  const rows = visibleTunnels(p.ctx, caller, p.tunnels).sort((a, b) => a.openedAt.localeCompare(b.openedAt));
  const v = p.viewer;
  const body = html`${notice('error', p.flash.error)}${notice('ok', p.flash.ok)}
<div id="live-region" aria-live="polite">
${
  rows.length
    ? html`<table><caption class="sr">Open tunnels</caption>
<thead><tr><th scope="col">Opened</th><th scope="col">User</th><th scope="col">Target/role</th><th scope="col">Grant</th><th scope="col">Session</th><th scope="col">From</th><th scope="col"><span class="sr">Action</span></th></tr></thead>
<tbody>${rows.map(
        (t) => html`<tr id="tunnel-${t.id}"><td>${when(t.openedAt)}</td><td>${t.user}</td><td>${t.target}/${t.role}</td><td><a href="/ui/grants/${t.grantId}">${t.grantId}</a></td>
<td>${t.sessionId ? html`<a href="/ui/sessions/${t.sessionId}">${t.sessionId.slice(0, 8)}</a>` : html`<span class="muted">none</span>`}</td><td>${t.ip}</td>
<td>${mayTerminate(p.ctx, caller, t) ? form(v, `/ui/live/${t.id}/terminate`, '/ui/live', html`<button type="submit" class="deny">Terminate</button>`, `Terminate ${t.user}'s tunnel to ${t.target}`) : ''}</td></tr>`,
      )}</tbody></table>`
    : html`<p class="empty">No open tunnel you can see.</p>`
}
</div>`;
  return page({ title: 'Live', section: 'live', viewer: v, body, live: true });
}
