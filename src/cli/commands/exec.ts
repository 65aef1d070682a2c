import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { runWrapped, type WrappedOptions } from '../wrapped-session.js';

/** Flags shared by exec, psql and kubectl. */
export function grantFlags(cmd: Command): Command {
  return cmd
    .option('-r, --role <role>', 'role to use (default: the only one you may request)')
    .option('--for <duration>', 'grant duration if a new grant is requested, e.g. 30m')
    .option('--reason <text>', 'why you need access (required by some policies)')
    .option('--timeout <duration>', 'how long to wait for an approval before exiting 8')
    .option('--correlation-id <id>', 'stored on the grant, session and audit events (default: the CI run id)')
    .option('--server <url>', 'gate server URL');
}

export function registerExec(program: Command, ctx: CliContext): void {
  grantFlags(
    program
      .command('exec')
      .summary('run any command through a tunnel to a target, recorded')
      .description(
        'Get (or request) a grant, open a tunnel, and run CMD with GATE_TARGET_HOST, GATE_TARGET_PORT\n' +
          'and GATE_TARGET_URL pointing at it (plus PG* or KUBECONFIG for those targets; for an HTTP\n' +
          'target GATE_TARGET_URL is http://127.0.0.1:PORT and proxy variables are removed). The\n' +
          "terminal is recorded and uploaded. gate exits with the command's own exit code.\n\n" +
          'Examples:\n' +
          "  $ gate exec db-prod -- psql -c 'select 1'\n" +
          "  $ gate exec redis -- sh -c 'redis-cli -h $GATE_TARGET_HOST -p $GATE_TARGET_PORT ping'\n" +
          `  $ gate exec billing-api -- sh -c 'curl "$GATE_TARGET_URL/v1/invoices"'\n` +
          '  $ CI=true gate exec db-prod --role read --timeout 10m -- ./migrate-check.sh',
      )
      .argument('<target>', 'target name')
      .argument('<command...>', 'the command to run, after --'),
  ).action(async (target: string, command: string[], opts: WrappedOptions) => {
    const [file, ...args] = command;
    if (!file) throw new UsageError('Name the command to run after --, e.g. gate exec db-prod -- psql.');
    ctx.exitCode = await runWrapped(ctx, target, { file, args }, opts);
  });
}

export function registerPsql(program: Command, ctx: CliContext): void {
  grantFlags(
    program
      .command('psql')
      .summary('run psql against a Postgres target, recorded')
      .description(
        'psql through the gateway, exactly as psql feels, with the session recorded. Anything after\n' +
          '-- goes to psql. Works without a terminal too (pipes, CI).\n\n' +
          'Examples:\n' +
          '  $ gate psql db-prod\n' +
          "  $ gate psql db-prod -- -c 'select count(*) from orders'\n" +
          "  $ echo 'select 1' | gate psql db-prod --role read",
      )
      .argument('<target>', 'target name')
      .argument('[psql-args...]', 'arguments for psql, after --'),
  ).action(async (target: string, args: string[], opts: WrappedOptions) => {
    ctx.exitCode = await runWrapped(ctx, target, { file: 'psql', args }, opts);
  });
}

export function registerKubectl(program: Command, ctx: CliContext): void {
  grantFlags(
    program
      .command('kubectl')
      .summary('run kubectl against a Kubernetes target, recorded')
      .description(
        'kubectl through the gateway with a temporary kubeconfig (0600, no credential, removed on\n' +
          'exit). Anything after -- goes to kubectl.\n\n' +
          'Examples:\n  $ gate kubectl k8s-prod -- get pods -A\n  $ gate kubectl k8s-prod --role admin -- rollout restart deploy/api -n prod',
      )
      .argument('<target>', 'target name')
      .argument('[kubectl-args...]', 'arguments for kubectl, after --'),
  ).action(async (target: string, args: string[], opts: WrappedOptions) => {
    ctx.exitCode = await runWrapped(ctx, target, { file: 'kubectl', args }, opts);
  });
}
