/** `gate help agents`: the same text as docs/agents.md (a test keeps them equal). */
export const AGENTS_TOPIC = `AI agents reach gate first through the Model Context Protocol: \`gate mcp\`
gives an agent governed tools, with the same grants, guardrails, masking,
approvals, audit and recording as a person's session, and tells it in
structured form what it may do next. Driving the CLI (below) is the fallback
for scripts and agents without MCP. This page is also printed by
\`gate help agents\`.

## MCP: \`gate mcp\`

\`gate mcp [--target T…] [--role R] [--reason TEXT] [--correlation-id ID]\`
speaks MCP over stdio as the logged-in identity (keychain, \`GATE_TOKEN\` or a
workload login). With \`--target\`, only those targets are offered. Set it up
in a client with:

\`\`\`sh
gate mcp config --client claude-code --target db-prod          # print the snippet
gate mcp config --client cursor --target db-prod --write       # merge it into ~/.cursor/mcp.json
\`\`\`

| client | file \`--write\` merges into (keeping everything else) |
| --- | --- |
| \`claude-code\` | \`.mcp.json\` in the current directory (\`mcpServers\`) |
| \`claude-desktop\` | \`claude_desktop_config.json\` in Claude's config dir (\`mcpServers\`) |
| \`cursor\` | \`~/.cursor/mcp.json\` (\`mcpServers\`) |
| \`vscode\` | \`.vscode/mcp.json\` in the current directory (\`servers\`) |
| \`codex\` | \`~/.codex/config.toml\` (\`[mcp_servers.gate]\`; \`$CODEX_HOME\`) |

The entry never holds a token: \`gate mcp\` uses your login.

### Tools

| tool | input | does |
| --- | --- | --- |
| \`gate_targets\` | none | the targets and roles you may use, approval, max duration, your active grants; for Postgres the guardrails and masked columns in force; for HTTP targets the method/path \`rules\` and \`masked_fields\` |
| \`gate_request_access\` | \`{target, role, duration?, reason}\` | requests or reuses a grant; returns at once: \`active\`, or \`pending\` with the grant id and approvers |
| \`gate_grant_status\` | \`{id}\` | state of a grant (\`g_…\`) or of a held statement (\`a_…\`) and what to do next |
| \`gate_sql\` | \`{target, role?, sql, params?, max_rows?}\` | runs SQL through the gateway; per statement: \`command\`, \`columns\` (name, type, masked), \`rows\` (capped, \`truncated\`), plus \`notices\` |
| \`gate_schema\` | \`{target, schema?, table?}\` | tables and columns through the gateway, masked columns flagged |
| \`gate_kubectl\` | \`{target, args}\` | kubectl through the gateway, no TTY (\`-i\`/\`-t\`, \`edit\`, \`attach\`, \`port-forward\` refused); \`stdout\`, \`stderr\`, \`exit_code\` |
| \`gate_http\` | \`{target, method, path, headers?, body?, role?, max_bytes?}\` | one request to an HTTP target through the gateway (which injects the API's credential); \`status\`, the headers that matter (\`content-type\`, \`location\`, \`retry-after\`, …), \`body\` (parsed JSON when JSON, text otherwise, at most \`max_bytes\`, default 256 KiB, with \`truncated\`) |

\`gate_http\` goes through a real tunnel to the gateway's HTTP handler, as
\`gate connect\` does: the target's method/path rules, approvals, JSON masking
and \`http.request\` audit events apply unchanged (they carry the MCP session's
id). \`Authorization\` and \`Cookie\` headers an agent sends are dropped by the
gateway; the agent never holds the API key. An error status from the API
itself (404, 422 …) is a normal result; only the gateway's own refusals are
tool errors. A held request passes once after approval, when retried with the
same method, path and body.

Errors are tool errors (\`isError: true\`) whose text says why and what to do
next, with \`structuredContent.error.outcome\`:

- \`denied\`: a guardrail refused the statement; the text names the rule. Do not retry.
- \`held\`: a \`require_approval\` guardrail holds it; \`approval_id\` is \`a_…\`. A
  human runs \`gate approve a_…\`; call \`gate_grant_status {"id": "a_…"}\` until
  it is \`approved\`, then retry the same call.
- no active grant: call \`gate_request_access\` first. When the policy approves
  automatically, gate requests the grant itself (turn that off with
  \`--no-auto-request\`; \`--reason\` is sent with it).
- grant ended: the grant the session was using was revoked or expired (the
  text says which, \`grant_id\` and \`grant_state\` say so in structured form).
  Its tunnel is closed. gate does not request a new grant by itself after
  that, even with an auto-approving policy: call \`gate_request_access\`, then
  retry. For an \`mcp\` target's prefixed tools (\`gate mcp --target\`), the
  tunnel to the target is closed when the grant ends, and reopened under the
  new grant on the next call after \`gate_request_access\`.
- link lost: each call's tunnel is \`gate-tunnel/2\` with the heartbeat
  (\`GATE_TUNNEL_PING_INTERVAL\` / \`_TIMEOUT\`, default 5 s / 15 s), so a call
  whose network path stops carrying packets fails within interval +
  timeout: \`gate: lost the gate server: no answer for 15 s. Whether the
  statement ran on db is unknown: check before running it again.\`
  (\`structuredContent.error.reason\` is \`link_lost\`). Check the statement's
  effect before retrying a write.

### One MCP session is one gate session

\`gate sessions\` lists it with kind \`mcp\` and the client's name and version
from \`initialize\`. Its recording is the sequence of tool calls and results as
the agent saw them (masked), replayable with \`gate sessions show\` and
exportable. Every tool call is an \`mcp.tool_call\` audit event (tool, arguments
with the email and card detectors applied, outcome) with the session and
correlation ids; the statements the gateway saw carry the same ids.

## MCP servers as targets

A \`type: mcp\` target fronts a remote MCP server (streamable HTTP). The
gateway injects the role's headers (\`\${env:NAME}\` / \`\${file:/path}\` inside a
header value are secret references), so the credential never reaches the
client:

\`\`\`yaml
targets:
  tickets-mcp:
    type: mcp
    address: https://mcp.internal.example/mcp
    tls: { ca: file:/etc/gate/ca.pem }
    roles:
      use: { headers: { Authorization: 'Bearer \${env:TICKETS_MCP_TOKEN}' } }
    tools:
      allow: [search_*, get_*, create_comment]
      deny: [delete_*]
      require_approval: [create_comment]
    masking: { detectors: [email, credit_card] }
\`\`\`

\`tools/list\` shows only allowed tools; a denied call is answered by the
gateway as a tool error with the rule's message; a held call as a tool error
with an approval id (\`gate approve a_…\`, then retry); results pass the
detectors; every JSON-RPC request is an \`mcp.request\` audit event (method,
tool, arguments, outcome). \`gate connect tickets-mcp --json\` prints a local
streamable-HTTP endpoint (\`url\`, e.g. \`http://127.0.0.1:PORT/mcp\`) for clients
that want a URL; revoking or expiring the grant ends it.

# The CLI for scripts and agents without MCP

An agent or any script drives gate the way a CI step does: no prompts, one
JSON object per line, and exit codes that say what happened.

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
