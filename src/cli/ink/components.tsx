import { Box, Text } from 'ink';
import { useEffect, useState } from 'react';

/**
 * The pieces every interactive view shares (the approvals queue, the role
 * picker, the waiting line of `gate request` and the tunnel commands), so
 * they look and behave alike.
 */

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
      <Text color="cyan">{FRAMES[frame]}</Text> {text}
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
          <Text color="cyan">{i === selected ? '›' : ' '}</Text> {numbered ? `${i + 1}) ` : ''}
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
      <Text color={ok ? 'green' : 'red'}>{ok ? '✓' : '✗'}</Text> {text}
    </Text>
  );
}
