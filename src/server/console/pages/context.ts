import type { ServerContext } from '../../context.js';
import type { TunnelRegistry } from '../../tunnel-endpoint.js';
import type { ConsoleApi } from '../api.js';
import type { ViewerKey } from '../cards.js';

/** What every page gets: the viewer, the API as the viewer, and a one-shot message from the last action. */
export interface PageContext {
  viewer: ViewerKey;
  api: ConsoleApi;
  ctx: ServerContext;
  tunnels: TunnelRegistry;
  query: Record<string, string | undefined>;
  flash: { ok?: string; error?: string };
  /** Renders the API's refusal as a page with the API's status (404, 403, …). */
  apiError(status: number, message: string): never;
}
