/** A token the server refuses; `reason` goes to the log, the caller sees a generic 401. */
export class TokenRejected extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.name = 'TokenRejected';
    this.reason = reason;
  }
}
