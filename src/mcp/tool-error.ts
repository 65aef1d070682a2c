import type { ToolCallRequest } from '../api/wire-sessions.js';

/**
 * A tool call that did not do what was asked, told to the agent as a tool
 * error (`isError: true`) whose text says why and what to do next, with the
 * same facts as structured content.
 */
export class ToolError extends Error {
  readonly outcome: ToolCallRequest['outcome'];
  readonly data: Record<string, unknown>;

  constructor(outcome: ToolCallRequest['outcome'], message: string, data: Record<string, unknown> = {}) {
    super(message);
    this.name = 'ToolError';
    this.outcome = outcome;
    this.data = data;
  }
}
