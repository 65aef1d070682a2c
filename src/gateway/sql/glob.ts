/** `*` globs, case-insensitive, over names (tables, functions, command tags are matched elsewhere by prefix). */
const cache = new Map<string, RegExp>();

export function globMatch(pattern: string, value: string): boolean {
  let re = cache.get(pattern);
  if (!re) {
    const source = pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    re = new RegExp(`^${source}$`, 'i');
    if (cache.size < 1000) cache.set(pattern, re);
  }
  return re.test(value);
}
