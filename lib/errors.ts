// Typed errors: every error this library creates carries a `code` string;
// connection errors also carry the URL and, when there is one, the cause.

export interface ErrorDetails {
  url?: string;
  status?: number;
  headers?: Record<string, string>;
  cause?: unknown;
}

/** An error of a connection: handshake, TLS, network or protocol failure. */
export class WebSocketError extends Error {
  readonly code: string;
  readonly url?: string;
  /** HTTP status of a refused upgrade. */
  readonly status?: number;
  /** Response headers of a refused upgrade (lower-case names). */
  readonly headers?: Record<string, string>;

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'WebSocketError';
    this.code = code;
    if (details.url !== undefined) this.url = details.url;
    if (details.status !== undefined) this.status = details.status;
    if (details.headers !== undefined) this.headers = details.headers;
  }
}

/**
 * Any value as text for an error message. Never throws: String() does for
 * null-prototype objects, JSON.stringify for bigints.
 */
export function describeValue(v: unknown): string {
  try {
    if (typeof v === 'string') return JSON.stringify(v);
    if (typeof v === 'bigint') return `${v}n`;
    return String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

export type CodedTypeError = TypeError & { code: string };
export type CodedRangeError = RangeError & { code: string };

export function typeError(code: string, message: string): CodedTypeError {
  const e = new TypeError(message) as CodedTypeError;
  e.code = code;
  return e;
}

export function rangeError(code: string, message: string): CodedRangeError {
  const e = new RangeError(message) as CodedRangeError;
  e.code = code;
  return e;
}
