/**
 * Splits SQL text into statements at top-level semicolons and normalises each
 * one for guardrail matching: comments removed, runs of whitespace collapsed to
 * one space, trimmed. String literals, quoted identifiers and dollar-quoted
 * bodies are kept verbatim. `/* x *\/ DROP TABLE t` is therefore seen as
 * `DROP TABLE t`, and a `WHERE` on the next line is on the same "line".
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur = '';
  let space = false;
  const n = sql.length;
  let i = 0;
  const push = () => {
    const s = cur.trim();
    if (s) out.push(s);
    cur = '';
    space = false;
  };
  const addSpace = () => {
    if (!space && cur.length > 0) cur += ' ';
    space = true;
  };
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
      addSpace();
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      addSpace();
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && /[eE]$/.test(cur) && !/[A-Za-z0-9_]$/.test(cur.slice(0, -1));
      let j = i + 1;
      while (j < n) {
        if (escapes && sql[j] === '\\') j += 2;
        else if (sql[j] === c && sql[j + 1] === c) j += 2;
        else if (sql[j] === c) break;
        else j++;
      }
      cur += sql.slice(i, j + 1);
      space = false;
      i = j + 1;
    } else if (c === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
      if (m && !/[A-Za-z0-9_]$/.test(cur)) {
        const tag = m[0];
        const end = sql.indexOf(tag, i + tag.length);
        const stop = end < 0 ? n : end + tag.length;
        cur += sql.slice(i, stop);
        space = false;
        i = stop;
      } else {
        cur += c;
        space = false;
        i++;
      }
    } else if (c === ';') {
      push();
      i++;
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') {
      addSpace();
      i++;
    } else {
      cur += c;
      space = false;
      i++;
    }
  }
  push();
  return out;
}
