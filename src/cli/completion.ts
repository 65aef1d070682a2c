import type { Command } from 'commander';

/** Which positional arguments complete dynamically, by command name. */
const DYNAMIC: Record<string, 'targets' | 'grants' | 'sessions'> = {
  request: 'targets',
  connect: 'targets',
  psql: 'targets',
  kubectl: 'targets',
  exec: 'targets',
  approve: 'grants',
  deny: 'grants',
  revoke: 'grants',
  cancel: 'grants',
};

interface Spec {
  name: string;
  summary: string;
  flags: string[];
  subcommands: Spec[];
}

function specOf(cmd: Command): Spec {
  return {
    name: cmd.name(),
    summary: cmd.summary() || cmd.description().split('\n')[0] || '',
    flags: cmd.options.filter((o) => !o.hidden).flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f))),
    subcommands: cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden).map(specOf),
  };
}

/** Generates a completion script for bash, zsh or fish from the live command tree. */
export function completionScript(shell: 'bash' | 'zsh' | 'fish', program: Command): string {
  const root = specOf(program);
  if (shell === 'fish') return fish(root);
  const bashBody = bash(root);
  if (shell === 'zsh') return `#compdef gate\n# gate completion for zsh (uses bash completion emulation)\nautoload -U +X bashcompinit && bashcompinit\n${bashBody}`;
  return bashBody;
}

function bash(root: Spec): string {
  const cases = root.subcommands
    .map((c) => {
      const subs = c.subcommands.map((s) => s.name).join(' ');
      const dyn = DYNAMIC[c.name];
      return `    ${c.name})
      if [[ "$cur" == -* ]]; then words_="${c.flags.join(' ')}"
      elif [[ -n "${subs}" && $cword -eq 2 ]]; then words_="${subs}"
      ${dyn ? `elif [[ $cword -eq 2 ]]; then words_="$(_gate_dynamic ${dyn})"` : ''}
      fi;;`;
    })
    .join('\n');
  return `# gate completion for bash. Install: gate completion bash > /etc/bash_completion.d/gate
_gate_dynamic() {
  # Names come from a short cache in gate itself; never wait long on a slow server.
  timeout 2 gate __complete "$1" 2>/dev/null
}
_gate() {
  local cur cword words_=""
  cur="\${COMP_WORDS[COMP_CWORD]}"
  cword=$COMP_CWORD
  if [[ $cword -eq 1 ]]; then
    words_="${root.subcommands.map((c) => c.name).join(' ')} ${root.flags.join(' ')}"
  else
    case "\${COMP_WORDS[1]}" in
${cases}
    esac
  fi
  COMPREPLY=( $(compgen -W "$words_" -- "$cur") )
}
complete -F _gate gate
`;
}

function fish(root: Spec): string {
  const esc = (s: string) => s.replace(/'/g, "\\'");
  const lines = ['# gate completion for fish. Install: gate completion fish > ~/.config/fish/completions/gate.fish', 'complete -c gate -f'];
  for (const c of root.subcommands) {
    lines.push(`complete -c gate -n '__fish_use_subcommand' -a '${c.name}' -d '${esc(c.summary)}'`);
    for (const f of c.flags) {
      const flag = f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`;
      lines.push(`complete -c gate -n '__fish_seen_subcommand_from ${c.name}' ${flag}`);
    }
    for (const s of c.subcommands) {
      lines.push(`complete -c gate -n '__fish_seen_subcommand_from ${c.name}' -a '${s.name}' -d '${esc(s.summary)}'`);
    }
    const dyn = DYNAMIC[c.name];
    if (dyn) lines.push(`complete -c gate -n '__fish_seen_subcommand_from ${c.name}' -a '(timeout 2 gate __complete ${dyn} 2>/dev/null)'`);
  }
  return `${lines.join('\n')}\n`;
}
