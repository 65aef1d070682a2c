import type { McpTarget } from '../../config/mcp-target.js';

/** What the target's `tools:` lists say about one tool. */
export type ToolVerdict =
  | { kind: 'allow' }
  | { kind: 'deny'; rule: string; message: string }
  | { kind: 'require_approval'; rule: string };

const compiled = new Map<string, RegExp>();

/** `search_*` → /^search_.*$/; `?` is one character. Tool names are matched whole and case-sensitively. */
export function globMatch(glob: string, name: string): boolean {
  let re = compiled.get(glob);
  if (!re) {
    re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\/]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    compiled.set(glob, re);
  }
  return re.test(name);
}

/** deny wins, then a tool outside allow is refused, then require_approval holds it. */
export function judgeTool(tools: McpTarget['tools'], targetName: string, name: string): ToolVerdict {
  const denied = tools.deny.find((g) => globMatch(g, name));
  if (denied) {
    return { kind: 'deny', rule: `deny ${denied}`, message: tools.message ?? `gate: tool ${name} is denied on ${targetName} by rule deny: ${denied}` };
  }
  if (!tools.allow.some((g) => globMatch(g, name))) {
    return { kind: 'deny', rule: 'allow', message: tools.message ?? `gate: tool ${name} is not in the allow list of ${targetName}` };
  }
  const held = tools.require_approval.find((g) => globMatch(g, name));
  if (held) return { kind: 'require_approval', rule: `require_approval ${held}` };
  return { kind: 'allow' };
}

/** Whether tools/list shows the tool: allowed (held ones included, the agent may ask for them). */
export const listed = (tools: McpTarget['tools'], name: string) =>
  !tools.deny.some((g) => globMatch(g, name)) && tools.allow.some((g) => globMatch(g, name));
