/**
 * Server-rendered HTML for the dev IdP's browser pages. No scripts of our own,
 * no external assets (the dev machine may be offline): inline CSS only.
 * Everything interpolated goes through `escapeHtml`, except the form snippets
 * oidc-provider hands us, which it has already escaped.
 */

/** Escapes text for HTML element content and double-quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const STYLE = `
  *{box-sizing:border-box}
  body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
    font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f3f4f6;color:#111827}
  main{width:min(26rem,92vw);background:#fff;border-radius:10px;padding:2rem;
    box-shadow:0 1px 3px rgba(0,0,0,.12),0 8px 24px rgba(0,0,0,.06)}
  h1{font-size:1.35rem;margin:0 0 .75rem}
  p{margin:.5rem 0}
  .brand{font-size:.8rem;letter-spacing:.08em;text-transform:uppercase;color:#6b7280;margin-bottom:1rem}
  label{display:block;font-weight:600;margin:1rem 0 .25rem}
  input[type=text],input[type=password]{width:100%;font:inherit;padding:.6rem .7rem;border:1px solid #d1d5db;border-radius:6px}
  input[name=user_code]{text-transform:uppercase;text-align:center;letter-spacing:.15em;font-size:1.3rem;margin-top:1rem}
  input:focus{outline:2px solid #2563eb;outline-offset:1px}
  button{font:inherit;font-weight:600;cursor:pointer;border-radius:6px;padding:.6rem 1rem;border:1px solid transparent}
  .primary{width:100%;margin-top:1.25rem;background:#2563eb;color:#fff}
  .primary:hover{background:#1d4ed8}
  .secondary{width:100%;margin-top:.5rem;background:#fff;color:#374151;border-color:#d1d5db}
  .error{background:#fef2f2;color:#991b1b;border:1px solid #fecaca;border-radius:6px;padding:.6rem .75rem}
  .ok{color:#065f46}
  .code{font:600 1.6rem/1.2 ui-monospace,SFMono-Regular,Menlo,monospace;letter-spacing:.12em;text-align:center;
    background:#f9fafb;border:1px dashed #d1d5db;border-radius:6px;padding:.75rem;margin:1rem 0}
  .muted{color:#6b7280;font-size:.875rem}
  code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
`;

function layout(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)} · gate dev</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<div class="brand">gate dev sign-in</div>
${body}
</main>
</body>
</html>`;
}

function errorBox(message: string | undefined): string {
  return message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : '';
}

/**
 * The user-code entry page. `form` is oidc-provider's `op.deviceInputForm`
 * (hidden xsrf field plus the `user_code` input).
 */
export function deviceCodePage(opts: { form: string; error?: string; title?: string; lead?: string }): string {
  const title = opts.title ?? 'Enter the code from your terminal';
  const lead = opts.lead ?? 'Type the code that <code>gate login</code> printed.';
  return layout(
    title,
    `<h1>${escapeHtml(title)}</h1>
${errorBox(opts.error)}
<p>${lead}</p>
${opts.form}
<button class="primary" type="submit" form="op.deviceInputForm">Continue</button>`,
  );
}

/** A page with no form: a finished, denied or broken sign-in. */
export function messagePage(opts: { title: string; message: string; error?: boolean }): string {
  return layout(
    opts.title,
    `<h1>${escapeHtml(opts.title)}</h1>
<p${opts.error ? ' class="error" role="alert"' : ''}>${escapeHtml(opts.message)}</p>`,
  );
}

/**
 * Asks the user to check the code matches their terminal. `form` is
 * oidc-provider's `op.deviceConfirmForm` (hidden inputs only).
 */
export function confirmPage(opts: { form: string; clientName: string; userCode: string }): string {
  return layout(
    'Confirm the code',
    `<h1>Is this the code in your terminal?</h1>
<p><strong>${escapeHtml(opts.clientName)}</strong> is asking to sign you in.</p>
<div class="code" data-testid="user-code">${escapeHtml(opts.userCode)}</div>
<p class="muted">If you did not run <code>gate login</code>, or the code differs, cancel.</p>
${opts.form}
<button class="primary" type="submit" form="op.deviceConfirmForm">Confirm</button>
<button class="secondary" type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button>`,
  );
}

/** The username/password form. Field names are part of the test contract. */
export function loginPage(opts: {
  action: string;
  abortAction: string;
  clientName: string;
  username?: string;
  error?: string;
}): string {
  return layout(
    'Sign in',
    `<h1>Sign in to continue to ${escapeHtml(opts.clientName)}</h1>
${errorBox(opts.error)}
<form method="post" action="${escapeHtml(opts.action)}" autocomplete="off">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${escapeHtml(opts.username ?? '')}" required autofocus autocapitalize="none" spellcheck="false">
<label for="password">Password</label>
<input type="password" id="password" name="password" required>
<button class="primary" type="submit">Sign in</button>
</form>
<form method="post" action="${escapeHtml(opts.abortAction)}">
<button class="secondary" type="submit">Cancel</button>
</form>
<p class="muted">Dev users come from <code>dev.users</code> in gate.yaml.</p>`,
  );
}

/** Shown once the device is authorized; the CLI's poll picks it up. */
export function successPage(opts: { username?: string }): string {
  const who = opts.username ? ` as <strong>${escapeHtml(opts.username)}</strong>` : '';
  return layout(
    'Signed in',
    `<h1 class="ok">Signed in</h1>
<p>Signed in${who} — you may close this window and return to the terminal.</p>`,
  );
}
