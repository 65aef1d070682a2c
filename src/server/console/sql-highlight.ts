import { type Html, html } from './html.js';

const KEYWORDS = new Set(
  `select from where and or not insert into values update set delete returning join left right inner outer full cross on using group by order
  having limit offset union all distinct as case when then else end create alter drop truncate table index view grant revoke begin commit
  rollback with is null in exists between like ilike copy explain analyze do function language returns primary key references default`
    .split(/\s+/)
    .filter(Boolean),
);

// Strings, quoted identifiers, comments, words, numbers; everything else passes as it is.
const TOKEN = /('(?:[^']|'')*'?)|("(?:[^"]|"")*"?)|(--[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|([A-Za-z_][A-Za-z0-9_$]*)|(\d+(?:\.\d+)?)|([\s\S])/g;

/**
 * The statement with light highlighting (keywords, strings, comments,
 * numbers) for a human to read before approving; every byte escaped, line
 * breaks and spacing kept (it goes into a <pre>). Highlighting is a reading
 * aid only: what runs is the exact text, which the approval is bound to.
 */
export function highlightSql(text: string): Html {
  const parts: Html[] = [];
  for (const m of text.matchAll(TOKEN)) {
    const [all, str, ident, comment, word, num] = m;
    if (str) parts.push(html`<span class="s">${str}</span>`);
    else if (ident) parts.push(html`${ident}`);
    else if (comment) parts.push(html`<span class="c">${comment}</span>`);
    else if (word && KEYWORDS.has(word.toLowerCase())) parts.push(html`<span class="k">${word}</span>`);
    else if (num) parts.push(html`<span class="n">${num}</span>`);
    else parts.push(html`${all}`);
  }
  return html`<pre class="sql"><code>${parts}</code></pre>`;
}
