/** What a gateway event did, in one line: the statement, the API request, or the event's own summary. */
export function describeEvent(details: unknown): string {
  if (!details || typeof details !== 'object') return typeof details === 'string' ? details : '';
  const d = details as Record<string, unknown>;
  if (typeof d.statement === 'string') return d.statement.replace(/\s+/g, ' ').trim();
  if (typeof d.verb === 'string') return [d.verb, d.path ?? d.resource, d.status].filter((x) => x !== undefined).join(' ');
  if (typeof d.command === 'string') return d.command;
  if (typeof d.error === 'string') return d.error;
  return '';
}
