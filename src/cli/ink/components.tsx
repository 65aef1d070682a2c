import { Box, Text } from 'ink';
import { createContext, type ReactNode, useContext, useEffect, useState } from 'react';

/**
 * The pieces every interactive view shares (the approvals queue, the role
 * picker, the waiting line of `gate request` and the tunnel commands), so
 * they look and behave alike.
 */

/** Whether the view may colour its text: gate's own colour decision (NO_COLOR, CLICOLOR, a terminal), given at render. */
export const ColorContext = createContext(true);

/** Text in a colour, or plain where colour is off. */
export function Tint({ color, children }: { color: string | undefined; children: ReactNode }) {
  return <Text color={useContext(ColorContext) ? color : undefined}>{children}</Text>;
}

/** A view under gate's colour decision. */
export function Colored({ on, children }: { on: boolean; children: ReactNode }) {
  return <ColorContext.Provider value={on}>{children}</ColorContext.Provider>;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** A spinner and a line of text. */
export function Spinner({ text }: { text: string }) {
  const [frame, setFrame] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setFrame((f) => (f + 1) % FRAMES.length), 100);
    return () => clearInterval(timer);
  }, []);
  return (
    <Text>
      <Tint color="cyan">{FRAMES[frame]}</Tint> {text}
    </Text>
  );
}

export interface Choice {
  key: string;
  label: string;
  /** Dim text after the label. */
  hint?: string;
}

/** A list with a `›` on the selected row. */
export function ChoiceList({ choices, selected, numbered = false }: { choices: Choice[]; selected: number; numbered?: boolean }) {
  return (
    <Box flexDirection="column">
      {choices.map((c, i) => (
        <Text key={c.key} wrap="truncate-end">
          <Tint color="cyan">{i === selected ? '›' : ' '}</Tint> {numbered ? `${i + 1}) ` : ''}
          <Text bold={i === selected}>{c.label}</Text>
          {c.hint ? <Text dimColor> {c.hint}</Text> : null}
        </Text>
      ))}
    </Box>
  );
}

/** A one-line text field with a block cursor. */
export function TextField({ label, value }: { label: string; value: string }) {
  return (
    <Text>
      {label}
      {value}
      <Text inverse> </Text>
    </Text>
  );
}

/** The keys a view answers to, on one dim line. */
export function KeyHelp({ keys }: { keys: [string, string][] }) {
  return <Text dimColor>{keys.map(([k, what]) => `${k} ${what}`).join(' · ')}</Text>;
}

/** A result line: ✓ in green or ✗ in red. */
export function Notice({ ok, text }: { ok: boolean; text: string }) {
  return (
    <Text>
      <Tint color={ok ? 'green' : 'red'}>{ok ? '✓' : '✗'}</Tint> {text}
    </Text>
  );
}
