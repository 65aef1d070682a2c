import { Box, type Key, render, Text, useInput } from 'ink';
import { useEffect, useState } from 'react';
import type { TargetSummary } from '../../api/wire-grants.js';
import { CancelledError } from '../../errors.js';
import type { IO } from '../io.js';
import { ChoiceList, Colored, TextField, Tint } from './components.js';
import { inkStreams } from './streams.js';

interface PickerState {
  selected: number;
  typed: string;
  error?: string;
  chosen?: string;
}

/** What Enter takes: the typed number or role name, else the highlighted role; undefined when the typing names none. */
export function roleFromAnswer(roles: string[], typed: string, selected: number): string | undefined {
  const answer = typed.trim();
  if (answer === '') return roles[selected];
  if (/^\d+$/.test(answer)) return roles[Number(answer) - 1];
  return roles.find((r) => r === answer);
}

function Picker({ target, state, onKey }: { target: TargetSummary; state: PickerState; onKey(input: string, key: Key): void }) {
  useInput(onKey, { isActive: state.chosen === undefined });
  // The prompt appears once useInput's effect has put the terminal in raw mode.
  const [reading, setReading] = useState(false);
  useEffect(() => setReading(true), []);
  if (state.chosen !== undefined) return <Text>Role: {state.chosen}</Text>;
  const choices = target.roles.map((r) => ({
    key: r.role,
    label: r.role.padEnd(12),
    hint: `${r.approval_required ? `needs approval by ${r.approvers.join(', ')}` : 'granted at once'}, up to ${r.max_duration}`,
  }));
  return (
    <Box flexDirection="column">
      <Text>{target.name} has several roles you may request:</Text>
      <ChoiceList choices={choices} selected={state.selected} numbered />
      {reading ? <TextField label={`Role [${target.roles[state.selected]?.role}]: `} value={state.typed} /> : null}
      {state.error ? <Tint color="yellow">{state.error}</Tint> : <Text dimColor>↑/↓ move · enter take · or type a number or a name</Text>}
    </Box>
  );
}

/**
 * The role picker on a terminal (ink, on stderr): arrows and Enter, or a
 * number or role name typed as before. Rejects with CancelledError on
 * Ctrl-C or when `signal` aborts.
 */
export function pickRoleInk(io: IO, color: boolean, target: TargetSummary, preselected: number, signal: AbortSignal): Promise<string> {
  const roles = target.roles.map((r) => r.role);
  let state: PickerState = { selected: preselected, typed: '' };
  return new Promise<string>((resolve, reject) => {
    const view = () => (
      <Colored on={color}>
        <Picker target={target} state={state} onKey={onKey} />
      </Colored>
    );
    const draw = () => instance.rerender(view());
    const end = (result: { role: string } | { error: Error }) => {
      signal.removeEventListener('abort', onAbort);
      if ('role' in result) {
        state = { ...state, chosen: result.role };
        draw();
      }
      instance.unmount();
      if ('role' in result) resolve(result.role);
      else reject(result.error);
    };
    function onKey(input: string, key: Key) {
      if (key.ctrl && input === 'c') return end({ error: new CancelledError('No role chosen.') });
      if (key.upArrow) state = { ...state, selected: (state.selected - 1 + roles.length) % roles.length, typed: '', error: undefined };
      else if (key.downArrow) state = { ...state, selected: (state.selected + 1) % roles.length, typed: '', error: undefined };
      else if (key.return) {
        const role = roleFromAnswer(roles, state.typed, state.selected);
        if (role) return end({ role });
        state = { ...state, typed: '', error: `Pick 1-${roles.length} or a role name (${roles.join(', ')}).` };
      } else if (key.backspace || key.delete) state = { ...state, typed: [...state.typed].slice(0, -1).join('') };
      else if (input && !key.ctrl && !key.meta && !key.escape) state = { ...state, typed: state.typed + input.replace(/[\r\n]/g, '') };
      draw();
    }
    const onAbort = () => end({ error: new CancelledError() });
    const instance = render(view(), { ...inkStreams(io, 'stderr'), exitOnCtrlC: false, patchConsole: false });
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
  });
}
