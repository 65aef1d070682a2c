import { Option, type Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { say } from '../output.js';

interface McpOptions {
  target?: string[];
  role?: string;
  reason?: string;
  correlationId?: string;
  autoRequest?: boolean;
  server?: string;
}

interface McpConfigOptions {
  client: string;
  target?: string[];
  write?: boolean;
  name?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The SDK is loaded only here (dynamic import), so every other command starts as fast as before. */
export function registerMcp(program: Command, ctx: CliContext): void {
  const mcp = program
    .command('mcp')
    .summary('serve gate to an AI agent over MCP (stdio)')
    .description(
      "Speak the Model Context Protocol on stdin/stdout as the logged-in identity, so an agent's tool calls go\n" +
        'through the same grants, guardrails, masking, approvals, audit and recording as a person\'s session.\n' +
        'Tools: gate_targets, gate_request_access, gate_grant_status, gate_sql, gate_schema, gate_kubectl.\n' +
        'One run is one gate session (kind mcp) listed by `gate sessions`; each tool call is an mcp.tool_call\n' +
        'audit event. With --target only those targets are offered. A data tool with no grant requests one\n' +
        'itself when the policy approves automatically (unless --no-auto-request); otherwise it tells the\n' +
        'agent to call gate_request_access. Configure a client with `gate mcp config`.\n\n' +
        'Examples:\n' +
        '  $ gate mcp\n' +
        '  $ gate mcp --target db-prod --role read --reason "agent: INC-42 triage"\n' +
        '  $ gate mcp config --client claude-code --target db-prod --write',
    )
    .addOption(new Option('-t, --target <name>', 'offer only this target (repeatable)').argParser(collect))
    .option('-r, --role <role>', 'default role when a tool call names none')
    .option('--reason <text>', 'reason sent with grants gate requests by itself')
    .option('--correlation-id <id>', 'stored on the session, its grants and every audit event')
    .option('--no-auto-request', 'never request a grant without gate_request_access, even when auto-approved')
    .option('--server <url>', 'gate server URL')
    .action(async (opts: McpOptions) => {
      if (opts.correlationId) ctx.env.correlationId = opts.correlationId;
      const server = await ctx.server(opts.server);
      const { serveMcp } = await import('../../mcp/server.js');
      await serveMcp(ctx, {
        server,
        targets: opts.target ?? [],
        role: opts.role,
        reason: opts.reason,
        autoRequest: opts.autoRequest !== false,
        command: ['gate', 'mcp', ...(opts.target ?? []).flatMap((t) => ['--target', t])].join(' '),
      });
    });

  mcp
    .command('config')
    .summary("print or write an MCP client's config entry for gate mcp")
    .description(
      'Print the snippet that makes an MCP client start `gate mcp` (with your --target list), or with\n' +
        "--write merge it into the client's own config file, keeping every other entry. Files:\n" +
        '  claude-code     .mcp.json in the current directory (project scope)\n' +
        '  claude-desktop  claude_desktop_config.json in Claude\'s config dir\n' +
        '  cursor          ~/.cursor/mcp.json\n' +
        '  vscode          .vscode/mcp.json in the current directory\n' +
        '  codex           ~/.codex/config.toml ($CODEX_HOME)\n' +
        'The entry holds no token: gate mcp uses your login (keychain, GATE_TOKEN or workload login).\n\n' +
        'Examples:\n' +
        '  $ gate mcp config --client claude-code\n' +
        '  $ gate mcp config --client cursor --target db-prod --write',
    )
    .requiredOption('--client <name>', 'claude-code, claude-desktop, cursor, vscode or codex')
    .addOption(new Option('-t, --target <name>', 'offer only this target (repeatable)').argParser(collect))
    .option('--name <name>', 'the server entry\'s name in the client', 'gate')
    .option('--write', "merge into the client's config file instead of printing")
    .action(async (_local: McpConfigOptions, cmd: Command) => {
      // `--target` is also `gate mcp`'s own option, and commander hands it to the parent: read both.
      const opts = cmd.optsWithGlobals<McpConfigOptions>();
      const { MCP_CLIENTS, planClientConfig, writeClientConfig } = await import('../../mcp/client-config.js');
      if (!(MCP_CLIENTS as readonly string[]).includes(opts.client)) {
        throw new UsageError(`Unknown MCP client ${JSON.stringify(opts.client)}.`, { hint: `Use one of: ${MCP_CLIENTS.join(', ')}.` });
      }
      const args = ['mcp', ...(opts.target ?? []).flatMap((t) => ['--target', t])];
      // The server a plain `gate login` saved is found by gate itself; only an explicit GATE_SERVER travels along.
      const env = ctx.env.server ? { GATE_SERVER: ctx.env.server } : undefined;
      const plan = planClientConfig(
        opts.client as (typeof MCP_CLIENTS)[number],
        { command: 'gate', args, ...(env ? { env } : {}) },
        { env: ctx.env, cwd: process.cwd(), platform: process.platform, name: opts.name ?? 'gate' },
      );
      if (!opts.write) {
        ctx.io.stdout.write(plan.snippet);
        say(ctx.io, ctx.style.dim(`# belongs in ${plan.file} (or run again with --write to merge it there)`));
        return;
      }
      const { created } = await writeClientConfig(plan);
      say(ctx.io, `${ctx.style.green('✓')} ${created ? 'Created' : 'Updated'} ${plan.file}: MCP server "${opts.name ?? 'gate'}" runs \`gate ${args.join(' ')}\``);
      ctx.io.stdout.write(`${plan.file}\n`);
    });
}
