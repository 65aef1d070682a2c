import { describe, expect, it } from 'vitest';
import { html, raw } from '../../src/server/console/html.js';
import { safeBack } from '../../src/server/console/sign-in.js';
import { highlightSql } from '../../src/server/console/sql-highlight.js';

describe('console templates', () => {
  it('escapes every interpolated value, nested templates and arrays included', () => {
    const name = '<img src=x onerror=alert(1)>';
    const out = html`<p title="${'" onmouseover="x'}">${name}${[html`<b>${'&'}</b>`, "'"]}${raw('<i>ok</i>')}</p>`.text;
    expect(out).toBe('<p title="&quot; onmouseover=&quot;x">&lt;img src=x onerror=alert(1)&gt;<b>&amp;</b>&#39;<i>ok</i></p>');
  });

  it('highlights a statement without changing a character of it: line breaks, spacing, quotes and markup kept', () => {
    const sql = "update t\n   set note = '<script>' -- why\n where id = 1;";
    const out = highlightSql(sql).text;
    const text = out.replace(/<[^>]+>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
    expect(text).toBe(sql);
    expect(out).not.toContain('<script>');
    expect(out).toContain('<span class="k">update</span>');
  });

  it('returns only to console paths after sign-in (no open redirect)', () => {
    expect(safeBack('/ui/grants/g_1')).toBe('/ui/grants/g_1');
    expect(safeBack('/ui/sessions?user=alice')).toBe('/ui/sessions?user=alice');
    for (const evil of ['https://evil.example/', '//evil.example/ui', '/uix', '/v1/grants', '/ui/../v1', '/ui/%2e%2e/v1', undefined]) {
      expect(safeBack(evil)).toBe('/ui/approvals');
    }
  });
});
