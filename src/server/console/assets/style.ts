/** The console's stylesheet: plain CSS, system fonts, contrast above WCAG AA, a focus ring on everything focusable. */
export const CONSOLE_CSS = `
:root { --fg:#1b1f24; --muted:#57606a; --bg:#ffffff; --panel:#f6f8fa; --line:#d0d7de; --accent:#0a53be; --ok:#116329; --bad:#a40e26; --warn:#7d4e00; }
* { box-sizing: border-box; }
body { margin:0; font:16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
a { color:var(--accent); }
:focus-visible { outline:3px solid #1f6feb; outline-offset:2px; }
.skip { position:absolute; left:-999px; } .skip:focus { left:8px; top:8px; background:#fff; padding:4px 8px; z-index:10; }
.sr { position:absolute; width:1px; height:1px; overflow:hidden; clip:rect(0 0 0 0); }
.top { display:flex; flex-wrap:wrap; gap:16px; align-items:center; padding:8px 20px; background:#24292f; color:#fff; }
.top a { color:#fff; } .brand { font-weight:700; font-size:1.2rem; text-decoration:none; }
.top nav ul { display:flex; gap:4px; list-style:none; margin:0; padding:0; }
.top nav a { display:block; padding:6px 10px; border-radius:6px; text-decoration:none; }
.top nav a[aria-current=page] { background:#fff; color:#24292f; font-weight:600; }
.who { margin-left:auto; display:flex; gap:8px; align-items:center; font-size:.9rem; } .who .muted { color:#d0d7de; }
main { padding:16px 20px 48px; max-width:1200px; }
h1 { margin:.2em 0 .6em; font-size:1.6rem; } h2 { font-size:1.2rem; margin:1.4em 0 .5em; } h3 { font-size:1.05rem; margin:0 0 .5em; } h4 { margin:.8em 0 .3em; }
.muted { color:var(--muted); } .empty { color:var(--muted); font-style:italic; }
.card { border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin:0 0 12px; background:var(--panel); }
dl { display:grid; grid-template-columns:max-content 1fr; gap:2px 16px; margin:0 0 8px; } dt { font-weight:600; } dd { margin:0; }
.reason { white-space:pre-wrap; }
.state { font-size:.8rem; padding:1px 8px; border-radius:10px; border:1px solid currentColor; font-weight:600; }
.state.pending { color:var(--warn); } .state.active, .state.approved { color:var(--ok); } .state.denied, .state.revoked { color:var(--bad); } .state.expired, .state.cancelled { color:var(--muted); }
pre.sql, pre.json { background:#fff; border:1px solid var(--line); border-radius:6px; padding:8px 12px; overflow:auto; white-space:pre; font:14px/1.45 ui-monospace, SFMono-Regular, Menlo, monospace; }
.sql .k { color:#8250df; font-weight:600; } .sql .s { color:#0a3069; } .sql .c { color:#57606a; font-style:italic; } .sql .n { color:#953800; }
table { border-collapse:collapse; width:100%; margin:8px 0; } th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
table.summary { width:auto; } caption { text-align:left; font-weight:600; padding:4px 0; }
label { display:block; font-weight:600; font-size:.9rem; margin:6px 0 2px; }
input, textarea { font:inherit; padding:6px 8px; border:1px solid #8c959f; border-radius:6px; width:100%; max-width:36rem; background:#fff; color:var(--fg); }
button { font:inherit; padding:6px 14px; border-radius:6px; border:1px solid #8c959f; background:#fff; color:var(--fg); cursor:pointer; }
button.approve { background:var(--ok); border-color:var(--ok); color:#fff; } button.deny { background:#fff; border-color:var(--bad); color:var(--bad); }
a.button { display:inline-block; padding:8px 18px; border-radius:6px; background:var(--accent); color:#fff; font-weight:600; text-decoration:none; }
button.link { background:none; border:none; color:#fff; text-decoration:underline; padding:0; }
.actions { display:flex; gap:8px; margin-top:8px; }
.notice { padding:8px 12px; border-radius:6px; border:1px solid; } .notice.error { color:var(--bad); background:#ffebe9; } .notice.ok { color:var(--ok); background:#dafbe1; }
.filters { display:flex; flex-wrap:wrap; gap:12px; align-items:flex-end; margin-bottom:12px; } .filters input { width:14rem; }
.replay { display:grid; grid-template-columns:minmax(0,3fr) minmax(0,2fr); gap:20px; } .replay.events-only { grid-template-columns:1fr; }
@media (max-width:900px) { .replay { grid-template-columns:1fr; } }
.timeline { list-style:none; padding:0; margin:0; max-height:70vh; overflow:auto; }
.timeline .ev { border-left:3px solid var(--line); padding:4px 10px; margin-bottom:8px; } .timeline .ev.denied, .timeline .ev.error { border-color:var(--bad); }
.timeline .ev.current { border-color:var(--accent); background:#ddf4ff; }
.seek { font-size:.85rem; padding:2px 8px; } .action { font-weight:600; } .result { color:var(--muted); font-size:.85rem; }
code.details { font-size:.8rem; word-break:break-all; } td.denied, td.error { color:var(--bad); }
`;
