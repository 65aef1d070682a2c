/** `gate help agents`: the same text as docs/agents.md (a test keeps them equal). */
export const AGENTS_TOPIC = `An AI agent or any script drives gate the way a CI step does: no prompts, one
JSON object per line, and exit codes that say what happened. This page is also
printed by \`gate help agents\`.

## Rules of the road

- Pass \`--json\` to every command that prints data. One-shot commands print one
  JSON object; long-running ones (\`login\`, \`request\`, \`connect\`) print NDJSON:
  one event per line, \`{"event": "...", ...}\`, never mixed with prose. Prose,
  progress and warnings go to stderr.
- gate never prompts when stdin is not a terminal, \`CI\` is set, or
  \`--no-input\` is given. A command that would have asked fails with a usage
  error naming the flag to pass (\`--yes\`, \`--role\`, …).
- Authenticate with \`GATE_TOKEN\` (a service token from \`gate token create\`, or
  a gate token from \`gate login --id-token … --print-token\`). Set \`GATE_SERVER\`.
- On failure with \`--json\`, the last line is
  \`{"event":"error","error":{"code":"GATE_ERR_…","message":"…","hint":"…"},"exit_code":N}\`.

## Exit codes

| code | meaning | what an agent should do |
| --- | --- | --- |
| 0 | success | continue |
| 1 | failure (usage, network, server) | read \`error.message\`; do not retry blindly |
| 2 | cancelled | stop |
| 4 | authentication required | get a new token (\`gate login …\`), retry once |
| 5 | access denied (policy, approver, revoked) | stop and report \`error.message\` to the human |
| 8 | pending approval | wait for a human; poll as below |

\`gate exec\`, \`gate psql\` and \`gate kubectl\` exit with the wrapped command's
code (128+N for a signal).

## Asking for access

\`\`\`sh
gate request db-prod --role write --for 30m --reason "TICKET-42: fix order 1234" --no-wait --json
\`\`\`

Auto-approved:

\`\`\`json
{"event":"requested","grant":{"id":"g_…","state":"active",…}}
{"event":"approved","grant":{"id":"g_…","state":"active","expires_at":"…"}}
\`\`\`

Needs a human (exit 8):

\`\`\`json
{"event":"requested","grant":{"id":"g_…","state":"pending",…}}
{"event":"waiting_approval","grant_id":"g_…","approvers":["dba-oncall"],"approvals_required":1}
{"event":"pending","grant_id":"g_…","exit_code":8}
\`\`\`

Tell the human which grant to approve (\`gate approve g_…\`), then wait for it
without holding a process open for long:

\`\`\`sh
gate request db-prod --role write --timeout 10m --json   # waits; exit 0 approved, 5 denied, 8 still pending
gate grants --json                                      # or poll the list: state pending → active | denied
\`\`\`

The server's long-poll (\`GET /v1/grants/ID?wait=60\`) returns as soon as the
state changes; \`gate request --timeout\` uses it.

## Running commands

\`\`\`sh
gate exec db-prod --role read --timeout 10m --correlation-id "$RUN_ID" -- psql -c 'select count(*) from orders'
gate psql db-prod -- -c 'select 1'
gate kubectl k8s-prod -- get pods -n prod -o json
\`\`\`

- The command runs with \`PGHOST\`/\`PGPORT\`/… or \`KUBECONFIG\` pointing at a local
  tunnel; no secret is in its environment.
- Every statement or API call is audited under the agent's identity, with the
  correlation id, and the terminal output is recorded.
- A statement a guardrail holds fails with a message naming an approval request
  (\`a_…\`). Ask a human to run \`gate approve a_…\`, then run the statement again.
- A denied statement fails with the rule's message; do not try variations to get
  around it.

## Long-running tunnels

\`gate connect db-prod --json\` prints \`ready\` (host, port, user, database, url)
and keeps running; \`connection_opened\` / \`connection_closed\` follow each
client, \`expiring\` comes 5 and 1 minutes before the grant ends, and \`closed\`
(with \`reason\`: \`expired\`, \`revoked\`, \`interrupted\`) is the last line.`;
