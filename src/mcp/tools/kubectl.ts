import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { z } from 'zod';
import { connectionDetails } from '../../cli/connection-details.js';
import { openTunnel } from '../../cli/tunnel-session.js';
import { offeredTarget } from '../context.js';
import { grantForCall } from '../grant.js';
import { ToolError } from '../tool-error.js';
import type { ToolDefinition } from '../tool.js';

const input = {
  target: z.string().describe('a Kubernetes target name from gate_targets'),
  args: z.array(z.string()).min(1).describe('kubectl arguments, e.g. ["get", "pods", "-n", "prod"]'),
  role: z.string().optional().describe('role to use (default: --role, or the only role open to you)'),
};

/** Flags that need a terminal or an open stdin: an agent has neither. */
const INTERACTIVE = new Set(['-i', '-t', '-it', '-ti', '--stdin', '--tty', '--stdin=true', '--tty=true']);
const INTERACTIVE_VERBS = new Set(['edit', 'attach', 'port-forward', 'proxy']);
const MAX_OUTPUT = 1024 * 1024;
const TIMEOUT_MS = 120_000;

export const kubectlTool: ToolDefinition<typeof input> = {
  name: 'gate_kubectl',
  title: 'Run kubectl on a Kubernetes target through gate',
  description:
    'Runs kubectl (no terminal, no stdin: -i/-t, edit, attach, port-forward are refused) against a Kubernetes target ' +
    'through the gate gateway under your active grant, with a temporary kubeconfig that holds no credential. The ' +
    "gateway applies the target's guardrails and audits every API request. Returns stdout, stderr and exit_code; a " +
    'request refused by a guardrail shows in stderr with the rule\'s message (exit_code non-zero). No active grant: ' +
    'call gate_request_access first. Output is capped at 1 MiB per stream.',
  input,
  async run(mcp, args) {
    const bad = args.args.find((a) => INTERACTIVE.has(a));
    if (bad || INTERACTIVE_VERBS.has(args.args[0] ?? '')) {
      throw new ToolError('denied', `gate_kubectl runs without a terminal or stdin: ${bad ?? args.args[0]} is not available. Use a non-interactive form (e.g. exec without -it, get -o yaml instead of edit).`);
    }
    const target = await offeredTarget(mcp, args.target, ['kubernetes']);
    const grant = await grantForCall(mcp, target, args.role);
    const tunnel = await openTunnel(mcp.cli, {
      server: mcp.server,
      grant: { id: grant.id, target: grant.target, role: grant.role, expires_at: grant.expires_at! },
      port: 0,
      sessionId: mcp.sessionId,
    });
    const details = await connectionDetails(mcp.cli, target, grant.role, tunnel);
    try {
      const env: Record<string, string> = { PATH: mcp.cli.rawEnv.PATH ?? '/usr/bin:/bin', HOME: mcp.cli.rawEnv.HOME ?? '/tmp', ...details.env };
      const result = await new Promise<{ stdout: string; stderr: string; exit_code: number }>((resolve, reject) => {
        execFile('kubectl', args.args, { env, maxBuffer: MAX_OUTPUT, timeout: TIMEOUT_MS, signal: mcp.cli.signal }, (err, stdout, stderr) => {
          if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
            reject(new ToolError('error', 'kubectl is not installed where gate mcp runs.', { target: target.name }));
            return;
          }
          const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
          resolve({ stdout: String(stdout), stderr: String(stderr), exit_code: code });
        });
      });
      const text = `exit code ${result.exit_code}\n${result.stdout}${result.stderr ? `\nstderr:\n${result.stderr}` : ''}`;
      return { structured: { target: target.name, role: grant.role, grant_id: grant.id, ...result }, text, target: target.name, grantId: grant.id };
    } finally {
      await tunnel.close();
      if (details.cleanup) await rm(details.cleanup, { recursive: true, force: true });
    }
  },
};
