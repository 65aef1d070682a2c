import { createInterface } from 'node:readline';
import type { TargetSummary } from '../api/wire-grants.js';
import { CancelledError } from '../errors.js';
import { canUseInk } from './ink/streams.js';
import type { IO, Style } from './io.js';

/**
 * The role choice for a target with several requestable roles, on a
 * terminal: a numbered list on stderr, Enter takes the preselected one (the
 * target's default_role, else the first). On a real terminal it is the ink
 * picker (arrows, or a number or name typed as here); where the streams only
 * claim to be terminals, these plain lines.
 */
export async function pickRole(io: IO, style: Style, target: TargetSummary, signal: AbortSignal): Promise<string> {
  const roles = target.roles;
  const preselected = Math.max(
    0,
    roles.findIndex((r) => r.role === target.default_role),
  );
  if (canUseInk(io, 'stderr')) {
    const { pickRoleInk } = await import('./ink/picker.js');
    return pickRoleInk(io, style.enabled, target, preselected, signal);
  }
  io.stderr.write(`${target.name} has several roles you may request:\n`);
  roles.forEach((r, i) => {
    const how = r.approval_required ? `needs approval by ${r.approvers.join(', ')}` : 'granted at once';
    io.stderr.write(`  ${i === preselected ? style.cyan('›') : ' '} ${i + 1}) ${r.role.padEnd(12)} ${style.dim(`${how}, up to ${r.max_duration}`)}\n`);
  });
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: false });
  try {
    for (;;) {
      const answer = (await question(rl, `Role [${roles[preselected]!.role}]: `, io, signal)).trim();
      if (answer === '') return roles[preselected]!.role;
      const byNumber = roles[Number(answer) - 1];
      if (/^\d+$/.test(answer) && byNumber) return byNumber.role;
      const byName = roles.find((r) => r.role === answer);
      if (byName) return byName.role;
      io.stderr.write(`Pick 1-${roles.length} or a role name (${roles.map((r) => r.role).join(', ')}).\n`);
    }
  } finally {
    rl.close();
  }
}

function question(rl: ReturnType<typeof createInterface>, prompt: string, io: IO, signal: AbortSignal): Promise<string> {
  io.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new CancelledError());
    const onClose = () => reject(new CancelledError('No role chosen.'));
    signal.addEventListener('abort', onAbort, { once: true });
    rl.once('close', onClose);
    rl.once('line', (line) => {
      signal.removeEventListener('abort', onAbort);
      rl.off('close', onClose);
      resolve(line);
    });
  });
}
