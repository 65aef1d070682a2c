import type { Command } from 'commander';

/** Which positional argument completes dynamically (first after the command), by command name. */
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

/** The same for subcommands (`gate sessions replay <id>`), keyed `command subcommand`. */
const SUB_DYNAMIC: Record<string, 'targets' | 'grants' | 'sessions'> = {
  'sessions show': 'sessions',
  'sessions replay': 'sessions',
  'sessions export': 'sessions',
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

/**
 * Generates a completion script for bash, zsh or fish from the live command
 * tree: commands, subcommands and flags statically; target names, grant ids
 * and session ids through the hidden `gate __complete`, which answers from a
 * 60 s cache and gives up on the server after about a second.
 */
export function completionScript(shell: 'bash' | 'zsh' | 'fish', program: Command): string {
  const root = specOf(program);
  if (shell === 'fish') return fish(root);
  if (shell === 'zsh') return zsh(root);
  return bash(root);
}

const words = (list: string[]) => list.join(' ');

function bash(root: Spec): string {
  const cases = root.subcommands
    .map((c) => {
      const dyn = DYNAMIC[c.name];
      const subCases = c.subcommands
        .map((s) => {
          const sd = SUB_DYNAMIC[`${c.name} ${s.name}`];
          const dynPart = sd ? `\n          elif [[ $cword -eq 3 ]]; then words_="$(_gate_dynamic ${sd})"` : '';
          return `        ${s.name}) if [[ "$cur" == -* ]]; then words_="${words(s.flags)}"${dynPart}\n          fi;;`;
        })
        .join('\n');
      return `    ${c.name})
      if [[ $cword -eq 2 && "$cur" != -* && -n "${words(c.subcommands.map((s) => s.name))}" ]]; then words_="${words(c.subcommands.map((s) => s.name))}"
      elif [[ "$cur" == -* && ( $cword -eq 2 || -z "${words(c.subcommands.map((s) => s.name))}" ) ]]; then words_="${words(c.flags)}"
${subCases ? `      elif [[ $cword -ge 3 ]]; then case "\${COMP_WORDS[2]}" in\n${subCases}\n      esac\n` : ''}${dyn ? `      elif [[ $cword -eq 2 ]]; then words_="$(_gate_dynamic ${dyn})"\n` : ''}      fi;;`;
    })
    .join('\n');
  return `# gate completion for bash. Install: gate completion bash > /etc/bash_completion.d/gate
_gate_dynamic() {
  # gate answers from a short cache and waits at most ~1 s for the server; timeout(1) is a second guard.
  if command -v timeout >/dev/null 2>&1; then timeout 2 gate __complete "$1" 2>/dev/null; else gate __complete "$1" 2>/dev/null; fi
}
_gate() {
  local cur cword words_=""
  cur="\${COMP_WORDS[COMP_CWORD]}"
  cword=$COMP_CWORD
  if [[ $cword -eq 1 ]]; then
    if [[ "$cur" == -* ]]; then words_="${words(root.flags)}"; else words_="${words(root.subcommands.map((c) => c.name))}"; fi
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

function zsh(root: Spec): string {
  const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const described = (list: Spec[]) => list.map((c) => q(`${c.name}:${c.summary.replace(/:/g, '\\:')}`)).join(' ');
  const cases = root.subcommands
    .map((c) => {
      const dyn = DYNAMIC[c.name];
      const subs = c.subcommands
        .map((s) => {
          const sd = SUB_DYNAMIC[`${c.name} ${s.name}`];
          return `        ${s.name}) if [[ $PREFIX == -* ]]; then compadd -- ${words(s.flags)}${sd ? `\n          elif (( CURRENT == 4 )); then _gate_dynamic ${sd}` : ''}\n          fi;;`;
        })
        .join('\n');
      const lines = [`    ${c.name})`];
      if (c.subcommands.length > 0) {
        lines.push(`      if (( CURRENT == 3 )) && [[ $PREFIX != -* ]]; then _gate_describe 'subcommand' ${described(c.subcommands)}`);
        lines.push(`      elif (( CURRENT == 3 )); then compadd -- ${words(c.flags)}`);
        lines.push(`      else case $words[3] in\n${subs}\n      esac; fi;;`);
      } else {
        lines.push(`      if [[ $PREFIX == -* ]]; then compadd -- ${words(c.flags)}`);
        lines.push(dyn ? `      elif (( CURRENT == 3 )); then _gate_dynamic ${dyn}; fi;;` : '      fi;;');
      }
      return lines.join('\n');
    })
    .join('\n');
  return `#compdef gate
# gate completion for zsh (native). Install: gate completion zsh > "\${fpath[1]}/_gate", then restart zsh.

_gate_dynamic() {
  # gate answers from a short cache and waits at most ~1 s for the server.
  local -a values
  values=(\${(f)"$(gate __complete $1 2>/dev/null)"})
  (( \${#values} )) && compadd -- $values
}

_gate_describe() {
  local tag=$1; shift
  if (( $+functions[_describe] )); then
    local -a items; items=("$@")
    _describe -t commands "$tag" items
  else
    compadd -- \${@%%:*}
  fi
}

_gate() {
  if (( CURRENT == 2 )); then
    if [[ $PREFIX == -* ]]; then compadd -- ${words(root.flags)}
    else _gate_describe 'gate command' ${described(root.subcommands)}; fi
    return
  fi
  case $words[2] in
${cases}
  esac
}

if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _gate "$@"
elif (( $+functions[compdef] )); then
  compdef _gate gate
fi
`;
}

function fish(root: Spec): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
  const flag = (f: string) => (f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`);
  const lines = [
    '# gate completion for fish. Install: gate completion fish > ~/.config/fish/completions/gate.fish',
    'complete -c gate -f',
    // gate answers from a short cache and waits at most ~1 s for the server.
    "function __gate_first_arg; test (count (commandline -opc)) -eq 2; end",
  ];
  for (const f of root.flags) lines.push(`complete -c gate -n '__fish_use_subcommand' ${flag(f)}`);
  for (const c of root.subcommands) {
    lines.push(`complete -c gate -n '__fish_use_subcommand' -a '${c.name}' -d '${esc(c.summary)}'`);
    const subNames = c.subcommands.map((s) => s.name).join(' ');
    for (const f of c.flags) lines.push(`complete -c gate -n '__fish_seen_subcommand_from ${c.name}' ${flag(f)}`);
    for (const s of c.subcommands) {
      lines.push(`complete -c gate -n '__fish_seen_subcommand_from ${c.name}; and not __fish_seen_subcommand_from ${subNames}' -a '${s.name}' -d '${esc(s.summary)}'`);
      for (const f of s.flags) lines.push(`complete -c gate -n '__fish_seen_subcommand_from ${c.name}; and __fish_seen_subcommand_from ${s.name}' ${flag(f)}`);
      const sd = SUB_DYNAMIC[`${c.name} ${s.name}`];
      if (sd) {
        lines.push(
          `complete -c gate -n '__fish_seen_subcommand_from ${c.name}; and __fish_seen_subcommand_from ${s.name}; and test (count (commandline -opc)) -eq 3' -a '(gate __complete ${sd} 2>/dev/null)'`,
        );
      }
    }
    const dyn = DYNAMIC[c.name];
    if (dyn) lines.push(`complete -c gate -n '__fish_seen_subcommand_from ${c.name}; and __gate_first_arg' -a '(gate __complete ${dyn} 2>/dev/null)'`);
  }
  return `${lines.join('\n')}\n`;
}
