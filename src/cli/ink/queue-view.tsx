import { Box, Text, useInput } from 'ink';
import type { Key } from 'ink';
import { useEffect, useState } from 'react';
import type { GrantWire } from '../../api/wire-grants.js';
import { formatDuration } from '../../config/duration.js';
import { ChoiceList, KeyHelp, Notice, Spinner, TextField, Tint } from './components.js';
import { type QueueItem, type QueueState, selectedItem } from './queue-state.js';

export interface QueueViewProps {
  state: QueueState;
  /** Live: the long-poll is connected; otherwise the reason it is not. */
  live: true | string;
  onKey(input: string, key: Key): void;
}

/** The approvals queue: the list, or one item's details, with the keys that apply. */
export function QueueView({ state, live, onKey }: QueueViewProps) {
  useInput(onKey);
  // useInput puts the terminal in raw mode in an effect: the keys line appears once keys are read.
  const [reading, setReading] = useState(false);
  useEffect(() => setReading(true), []);
  const item = selectedItem(state);
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>Approvals</Text>
        <Text dimColor>
          {' '}
          {state.items.length === 0 ? 'nothing waiting for you' : `${state.items.length} waiting for you`}
          {live === true ? ' · live' : ` · ${live}`}
        </Text>
      </Text>
      {state.mode === 'list' || !item ? <List state={state} /> : <Details item={item} recent={state.recent[item.requester] ?? []} />}
      {state.mode === 'reason' && item ? <TextField label={`Reason for denying ${item.id}: `} value={state.reason} /> : null}
      {state.busy ? <Spinner text={state.busy} /> : null}
      {state.notice ? <Notice ok={state.notice.ok} text={state.notice.text} /> : null}
      {reading ? <KeyHelp keys={keysFor(state)} /> : null}
    </Box>
  );
}

function keysFor(state: QueueState): [string, string][] {
  if (state.mode === 'reason') return [['enter', 'deny'], ['esc', 'back']];
  if (state.items.length === 0) return [['q', 'quit']];
  const decide: [string, string][] = [
    ['a', 'approve'],
    ['d', 'deny'],
  ];
  if (state.mode === 'details') return [...decide, ['esc', 'back'], ['q', 'quit']];
  return [['↑/↓', 'move'], ['enter', 'details'], ...decide, ['q', 'quit']];
}

function List({ state }: { state: QueueState }) {
  if (state.items.length === 0) return <Text dimColor>Waiting for requests… (this list updates by itself)</Text>;
  const choices = state.items.map((i) => ({
    key: i.id,
    label: `${i.id}  ${i.kind === 'grant' ? 'grant    ' : 'statement'}  ${i.requester}  ${i.target}/${i.role}`,
    hint: i.headline,
  }));
  return <ChoiceList choices={choices} selected={state.selected} />;
}

const line = (label: string, value: string) => (
  <Text>
    <Text dimColor>{label.padEnd(11)}</Text>
    {value}
  </Text>
);

/** Everything an approver needs: who, where, for how long, why, the whole statement, and what the requester did before. */
function Details({ item, recent }: { item: QueueItem; recent: GrantWire[] }) {
  const g = item.grant;
  const a = item.approval;
  return (
    <Box flexDirection="column" marginTop={1} marginBottom={1}>
      {line('id', item.id)}
      {line('kind', item.kind === 'grant' ? 'grant request' : `statement held by ${a?.rule ?? 'a guardrail'}`)}
      {line('requester', item.requester)}
      {line('target', `${item.target}/${item.role}`)}
      {g ? line('duration', `${formatDuration(g.duration)}${g.duration_capped ? ' (capped by policy)' : ''}`) : null}
      {g ? line('policy', `${g.policy}, ${g.approvals.length} of ${g.approvals_required} approvals from ${g.approvers.join(', ')}`) : null}
      {line('reason', g?.reason ?? a?.message ?? '-')}
      {line('requested', item.created_at)}
      {a ? <Statement text={a.text} summary={a.summary} /> : null}
      <Text dimColor>{recent.length > 0 ? `${item.requester}'s last grants:` : `${item.requester} has no earlier grants you can see.`}</Text>
      {recent.map((r) => (
        <Text key={r.id}>
          {'  '}
          {r.id} {r.target}/{r.role} {r.state} {r.created_at}
          {r.reason ? ` (${r.reason})` : ''}
        </Text>
      ))}
    </Box>
  );
}

function Statement({ text, summary }: { text: string; summary?: { tag: string; tables: string[]; filtered?: boolean }[] }) {
  return (
    <Box flexDirection="column" marginTop={1} marginBottom={1}>
      {summary && summary.length > 0 ? (
        <Tint color={summary.some((x) => x.filtered === false) ? 'yellow' : undefined}>
          {summary.map((x) => `${x.tag} on ${x.tables.length > 0 ? x.tables.join(', ') : 'no table'}, ${x.filtered === false ? 'NOT filtered (no WHERE, or one that is always true)' : 'filtered'}`).join('\n')}
        </Tint>
      ) : null}
      <Text dimColor>┌─ statement</Text>
      {/* One Text keeps every line break of the statement as it is. */}
      <Text>{text.split(/\r\n|\r|\n/).map((l) => `│ ${l}`).join('\n')}</Text>
      <Text dimColor>└─</Text>
    </Box>
  );
}

