import { type Html, html } from './html.js';

export interface Viewer {
  sub: string;
  name?: string;
  email?: string;
  groups: string[];
  admin: boolean;
  /** The session's CSRF token, put in every form. */
  csrf: string;
}

export type Section = 'approvals' | 'grants' | 'sessions' | 'live' | 'audit';

const NAV: { id: Section; label: string }[] = [
  { id: 'approvals', label: 'Approvals' },
  { id: 'grants', label: 'Grants' },
  { id: 'sessions', label: 'Sessions' },
  { id: 'live', label: 'Live' },
  { id: 'audit', label: 'Audit' },
];

/** The page shell: skip link, navigation with the current page marked, the signed-in user, sign-out. */
export function page(opts: { title: string; section?: Section; viewer?: Viewer; body: Html; head?: Html; live?: boolean }): string {
  const v = opts.viewer;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.title} · gate</title>
<link rel="stylesheet" href="/ui/assets/console.css">
${opts.head}
<script src="/ui/assets/console.js" defer></script>
</head>
<body${opts.live ? html` data-live="/ui/events"` : ''}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/ui/approvals">gate</a>
  ${
    v
      ? html`<nav aria-label="Console">
    <ul>${NAV.map((n) => html`<li><a href="/ui/${n.id}"${n.id === opts.section ? html` aria-current="page"` : ''}>${n.label}</a></li>`)}</ul>
  </nav>
  <form class="who" method="post" action="/ui/logout">
    <span>Signed in as <strong>${v.name ?? v.sub}</strong>${v.groups.length ? html` <span class="muted">(${v.groups.join(', ')})</span>` : ''}</span>
    <input type="hidden" name="csrf" value="${v.csrf}">
    <button type="submit" class="link">Sign out</button>
  </form>`
      : ''
  }
</header>
<main id="main" tabindex="-1">
<h1>${opts.title}</h1>
${opts.body}
</main>
</body>
</html>`.text;
}

/** A form with the CSRF token and a place to come back to. */
export function form(viewer: Viewer, action: string, back: string, inner: Html, label: string): Html {
  return html`<form method="post" action="${action}" aria-label="${label}">
<input type="hidden" name="csrf" value="${viewer.csrf}"><input type="hidden" name="back" value="${back}">
${inner}
</form>`;
}

export const when = (iso: string | null | undefined): Html =>
  iso ? html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>` : html`<span class="muted">–</span>`;

export function seconds(s: number): string {
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

export const notice = (kind: 'error' | 'ok', text: string | undefined): Html =>
  text ? html`<p class="notice ${kind}" role="${kind === 'error' ? 'alert' : 'status'}">${text}</p>` : html``;
