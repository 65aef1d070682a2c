import type { TargetConfig } from '../config/schema.js';
import { handleHttp } from './http/handler.js';
import { handleKubernetes } from './kubernetes/handler.js';
import { handleMcp } from './mcp/handler.js';
import { handlePostgres } from './postgres/handler.js';
import { handleTcp } from './tcp/handler.js';
import type { ProtocolHandler } from './types.js';

/** The protocol handler for a target's type. */
export function handlerFor(target: TargetConfig): ProtocolHandler {
  switch (target.type) {
    case 'postgres':
      return handlePostgres as ProtocolHandler;
    case 'kubernetes':
      return handleKubernetes as ProtocolHandler;
    case 'tcp':
      return handleTcp as ProtocolHandler;
    case 'http':
      return handleHttp as ProtocolHandler;
    case 'mcp':
      return handleMcp as ProtocolHandler;
  }
}
