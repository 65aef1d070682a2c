import type { GateClient } from '../api/client.js';
import { ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, tokenExchangeResponse, type TokenExchangeResponse } from '../api/wire.js';

/** Trades an IdP ID token (a person's or a workload's) for a gate token at the server. */
export async function exchangeIdToken(client: GateClient, idToken: string, signal?: AbortSignal): Promise<TokenExchangeResponse> {
  return client.call('POST', '/v1/auth/token', tokenExchangeResponse, {
    anonymous: true,
    signal,
    body: { grant_type: TOKEN_EXCHANGE_GRANT, subject_token: idToken, subject_token_type: ID_TOKEN_TYPE },
  });
}
