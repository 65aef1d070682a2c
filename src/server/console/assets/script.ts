/**
 * The console's only script, progressive enhancement: every page works
 * without it. It (1) refreshes the live region when the server says a
 * grant or held statement changed (EventSource on /ui/events), unless the
 * user is typing a comment, and (2) on a session page starts
 * asciinema-player and lets a click on a timeline event seek to that moment.
 */
export const CONSOLE_JS = `(() => {
  'use strict';
  const live = document.body.dataset.live;
  const region = () => document.getElementById('live-region');
  let stale = false;
  const busy = () => { const a = document.activeElement; return !!a && (a.tagName === 'TEXTAREA' || a.tagName === 'INPUT') && a.closest('#live-region') && a.value !== ''; };
  async function refresh() {
    if (busy()) { stale = true; return; }
    stale = false;
    const res = await fetch(location.href, { headers: { accept: 'text/html' }, credentials: 'same-origin' });
    if (!res.ok) return;
    const doc = new DOMParser().parseFromString(await res.text(), 'text/html');
    const next = doc.getElementById('live-region');
    const here = region();
    if (next && here) { here.innerHTML = next.innerHTML; document.body.dataset.refreshed = String(Date.now()); }
  }
  if (live && region() && 'EventSource' in window) {
    const es = new EventSource(live);
    es.addEventListener('change', () => { refresh().catch(() => {}); });
    document.addEventListener('focusout', () => { if (stale) setTimeout(() => { if (stale) refresh().catch(() => {}); }, 0); });
    es.addEventListener('open', () => { document.body.dataset.liveReady = '1'; });
  }
  const el = document.getElementById('player');
  if (el && window.AsciinemaPlayer) {
    const player = window.AsciinemaPlayer.create(el.dataset.cast, el, { cols: Number(el.dataset.cols) || 80, rows: Number(el.dataset.rows) || 24, idleTimeLimit: 1, fit: 'width', preload: true });
    window.gatePlayer = player;
    const marks = [...document.querySelectorAll('[data-seek]')];
    for (const b of marks) {
      b.addEventListener('click', async () => {
        await player.seek(Number(b.dataset.seek));
        for (const m of marks) m.closest('.ev').classList.toggle('current', m === b);
        await player.play();
      });
    }
  }
})();
`;
