// The options of a session's latest attempts configured in JS (url/headers
// functions, redirect hops), by attempt: a redirect starts from the
// redirected attempt's, and an attempt's error names its URL.
import { WebSocketError, type ErrorDetails } from './errors';
import type { ResolvedOptions } from './options/types';
import type { ErrorPayload } from './wire';

// Only one attempt is in its opening handshake at a time, so a few suffice.
const ATTEMPTS_KEPT = 8;

export interface AttemptEntry {
  options: ResolvedOptions;
  /** The error that refused a redirect of it (built with its cause). */
  refused?: WebSocketError;
}

export class RecentAttempts {
  readonly #entries = new Map<number, AttemptEntry>();

  remember(attempt: number, entry: AttemptEntry): void {
    this.#entries.set(attempt, entry);
    if (this.#entries.size > ATTEMPTS_KEPT) this.#entries.delete(this.#entries.keys().next().value as number);
  }

  options(attempt: number): ResolvedOptions | undefined {
    return this.#entries.get(attempt)?.options;
  }

  /** An Error event's error, naming the URL of the attempt that failed (`url` if not known here). */
  error(info: ErrorPayload, attempt: number, url: string): WebSocketError {
    const known = this.#entries.get(attempt);
    // A redirect refused here: the error built then, with its cause.
    if (known?.refused && known.refused.code === info.code) return known.refused;
    // The URL of the attempt that failed (a redirect's target on a hop).
    const details: ErrorDetails = { url: known ? known.options.url.href : url };
    if (info.status !== undefined) details.status = info.status;
    if (info.headers !== undefined) details.headers = info.headers;
    if (info.syscall !== undefined) {
      // A system error: Node's wording (`connect ECONNREFUSED 127.0.0.1:9`) and fields.
      details.syscall = info.syscall;
      if (info.address !== undefined) details.address = info.address;
      if (info.port !== undefined) details.port = info.port;
      if (info.hostname !== undefined) details.hostname = info.hostname;
    }
    // The message says what failed, as Node's and ws's do; `url` says where.
    return new WebSocketError(info.code, info.message, details);
  }
}
