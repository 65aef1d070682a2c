import { Agent } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { Pool } from 'undici';
import { describe, expect, it } from 'vitest';
import { downstreamHeaders as httpDownstream, type HttpUpstream, upstreamRequestHeaders } from '../../src/gateway/http/upstream.js';
import { downstreamHeaders as kubeDownstream, type Upstream, upstreamHeaders } from '../../src/gateway/kubernetes/upstream.js';

// What a client sends to steer the upstream through the proxy: a header named
// in Connection (hop-by-hop by declaration), forwarding headers that would
// claim another client address, its own credential, and (Kubernetes)
// impersonation. Both gateways must drop them all and send their own.
const RAW = [
  'Host', 'localhost:8001',
  'Connection', 'keep-alive, X-Hop-Secret',
  'X-Hop-Secret', 'only-for-the-first-hop',
  'Keep-Alive', 'timeout=5',
  'X-Forwarded-For', '10.0.0.1',
  'Forwarded', 'for=10.0.0.1',
  'X-Real-IP', '10.0.0.1',
  'Authorization', 'Bearer the-clients-own',
  'Impersonate-User', 'system:admin',
  'Accept', 'application/json',
  'X-Trace', 'a',
  'X-Trace', 'b',
];
const HEADERS: IncomingHttpHeaders = { connection: 'keep-alive, X-Hop-Secret', host: 'localhost:8001' };

const lowerKeys = (h: Record<string, unknown>) => Object.keys(h).map((k) => k.toLowerCase());

describe('the HTTP gateway as a proxy', () => {
  const up: HttpUpstream = { pool: {} as Pool, prefix: '', host: 'api.internal', credential: { authorization: 'Bearer role-token' }, display: 'https://api.internal' };

  it('sends the role credential and Host, none of the hop, forwarding or client credential headers, repeats in order', () => {
    const out = upstreamRequestHeaders(RAW, HEADERS, up, ['authorization', 'cookie'], { identity: false });
    expect(lowerKeys(out).sort()).toEqual(['accept', 'authorization', 'host', 'impersonate-user', 'x-trace']);
    expect(out).toMatchObject({ authorization: 'Bearer role-token', host: 'api.internal', 'x-trace': ['a', 'b'] });
  });

  it('relays response headers without the hop-by-hop ones the upstream lists in Connection', () => {
    const out = httpDownstream({ connection: 'close, x-upstream-hop', 'x-upstream-hop': '1', 'transfer-encoding': 'chunked', 'content-type': 'application/json' });
    expect(out).toEqual({ 'content-type': 'application/json' });
  });
});

describe('the Kubernetes gateway as a proxy', () => {
  const up: Upstream = { base: new URL('https://kube.internal:6443'), agent: new Agent(), authorization: 'Bearer role-token', display: 'https://kube.internal:6443' };

  it('drops impersonation, forwarding, the client credential and Connection-listed headers', () => {
    const out = upstreamHeaders(RAW, HEADERS, up, false);
    expect(lowerKeys(out).sort()).toEqual(['accept', 'authorization', 'host', 'x-trace']);
    expect(out).toMatchObject({ Authorization: 'Bearer role-token', Host: 'kube.internal:6443', 'X-Trace': ['a', 'b'] });
  });

  it('keeps Connection: Upgrade for an upgrade, and drops response hop headers otherwise', () => {
    expect(upstreamHeaders([...RAW, 'Upgrade', 'SPDY/3.1'], { ...HEADERS, upgrade: 'SPDY/3.1' }, up, true)).toMatchObject({ Connection: 'Upgrade', Upgrade: 'SPDY/3.1' });
    const raw = ['Connection', 'x-upstream-hop', 'X-Upstream-Hop', '1', 'Content-Type', 'application/json', 'Upgrade', 'SPDY/3.1'];
    expect(kubeDownstream(raw)).toEqual({ 'Content-Type': 'application/json' });
    const upgrade = ['Connection', 'Upgrade', 'Upgrade', 'SPDY/3.1', 'Content-Type', 'application/json'];
    expect(kubeDownstream(upgrade, true)).toEqual({ Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'Content-Type': 'application/json' });
  });
});
