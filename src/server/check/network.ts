import { connect } from 'node:net';
import { Agent, request } from 'undici';
import type { HttpTarget, McpTarget, TcpTarget } from '../../config/schema.js';
import { splitAddress } from './postgres.js';
import { reasonOf, withTimeout } from './secrets.js';
import type { CheckItem, ProbeContext } from './types.js';

/** A TCP connect to the service (gate injects no secret there, so there is nothing more to try). */
export async function checkTcpTarget(name: string, target: TcpTarget, ctx: ProbeContext): Promise<CheckItem[]> {
  const { host, port } = splitAddress(target.address);
  try {
    await withTimeout(`${target.address}`, ctx.timeoutMs, () => new Promise<void>((resolve, reject) => {
      const socket = connect({ host, port }, () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', reject);
    }));
    return [{ component: 'target', name, status: 'ok', message: `${target.address} accepts connections` }];
  } catch (err) {
    return [{ component: 'target', name, status: 'error', message: `cannot connect to ${target.address}: ${reasonOf(err)}` }];
  }
}

/** A HEAD of the API's base URL with each role's credential: any answer but 401/403 means reachable and accepted. */
export async function checkHttpTarget(name: string, target: HttpTarget, ctx: ProbeContext): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  for (const [role, cred] of Object.entries(target.roles)) {
    try {
      const headers: Record<string, string> = {};
      if ('bearer' in cred) headers.authorization = `Bearer ${await ctx.secret(cred.bearer)}`;
      else if ('basic' in cred) headers.authorization = `Basic ${Buffer.from(`${cred.basic.username}:${await ctx.secret(cred.basic.password)}`).toString('base64')}`;
      else for (const [h, ref] of Object.entries(cred.headers)) headers[h.toLowerCase()] = await ctx.secret(ref);
      items.push({ component: 'target', name, role, ...(await head(target.address, headers, target.tls.ca, target.tls.insecure_skip_verify, ctx)) });
    } catch (err) {
      items.push({ component: 'target', name, role, status: 'error', message: reasonOf(err) });
    }
  }
  return items;
}

/** MCP endpoints answer only JSON-RPC POSTs: reachability is what a HEAD can show (header templates are not sent). */
export async function checkMcpTarget(name: string, target: McpTarget, ctx: ProbeContext): Promise<CheckItem[]> {
  try {
    const r = await head(target.address, {}, target.tls.ca, false, ctx);
    // Without the role's headers a 401 only says the server is there.
    const status = r.status === 'warning' && /HTTP 40[13]/.test(r.message) ? 'ok' : r.status;
    return [{ component: 'target', name, status, message: status === 'ok' ? `${target.address} is reachable` : r.message }];
  } catch (err) {
    return [{ component: 'target', name, status: 'error', message: reasonOf(err) }];
  }
}

async function head(
  address: string,
  headers: Record<string, string>,
  caRef: string | undefined,
  insecure: boolean,
  ctx: ProbeContext,
): Promise<Pick<CheckItem, 'status' | 'message' | 'details'>> {
  const ca = caRef ? await ctx.secret(caRef) : undefined;
  const agent = new Agent({ connect: { ca, rejectUnauthorized: !insecure } });
  try {
    return await withTimeout(address, ctx.timeoutMs, async (signal) => {
      const res = await request(address, { method: 'HEAD', headers, dispatcher: agent, signal });
      await res.body.dump();
      const tls = insecure ? ' (tls.insecure_skip_verify is on: the certificate is not verified)' : '';
      if (res.statusCode === 401 || res.statusCode === 403) {
        return { status: 'warning', message: `${address} answered HTTP ${res.statusCode} to the role's credential: check it`, details: { http_status: res.statusCode } };
      }
      if (res.statusCode >= 500) return { status: 'warning', message: `${address} answered HTTP ${res.statusCode}`, details: { http_status: res.statusCode } };
      return { status: insecure ? 'warning' : 'ok', message: `${address} answered HTTP ${res.statusCode}${tls}`, details: { http_status: res.statusCode } };
    });
  } catch (err) {
    return { status: 'error', message: `cannot reach ${address}: ${reasonOf((err as { cause?: unknown }).cause ?? err)}` };
  } finally {
    await agent.close().catch(() => {});
  }
}
