// Typed errors: every error this library creates carries a `code` string;
// connection errors also carry the URL and, when there is one, the cause.
// The codes are closed lists (test/docs.test.ts checks that every code the
// sources can produce is in them and in the README).
import { getSystemErrorMap } from 'node:util';

/** A failed system call, named as Node names it (`err.syscall` says which call). */
export type SystemErrorCode =
  | 'ECONNREFUSED'
  | 'ECONNRESET'
  | 'ETIMEDOUT'
  | 'EHOSTUNREACH'
  | 'ENETUNREACH'
  | 'EHOSTDOWN'
  | 'ENETDOWN'
  | 'EADDRNOTAVAIL'
  | 'EACCES'
  | 'EPERM'
  | 'ENOTFOUND'
  | 'EAI_AGAIN'
  | 'EAI_FAIL';

/** The server's certificate failed verification (OpenSSL's check, named as Node names it). */
export type CertificateErrorCode =
  | 'CERT_HAS_EXPIRED'
  | 'CERT_NOT_YET_VALID'
  | 'DEPTH_ZERO_SELF_SIGNED_CERT'
  | 'SELF_SIGNED_CERT_IN_CHAIN'
  | 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'
  | 'UNABLE_TO_GET_ISSUER_CERT'
  | 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
  | 'ERR_TLS_CERT_ALTNAME_INVALID'
  | 'CERT_SIGNATURE_FAILURE'
  | 'CERT_REVOKED'
  | 'INVALID_CA'
  | 'INVALID_PURPOSE'
  | 'CERT_UNTRUSTED'
  | 'CERT_REJECTED'
  | 'ERR_TLS_CERT_INVALID';

/**
 * The code of a `WebSocketError`: what the `error` event, `opened`,
 * `lastError` and the calls that need an open session report.
 * `ERR_SSL_<ALERT>`: the server refused the TLS session with that alert
 * (e.g. `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`).
 */
export type ErrorCode =
  | SystemErrorCode
  | CertificateErrorCode
  | `ERR_SSL_${Uppercase<string>}`
  | 'ERR_CONNECT'
  | 'ERR_TLS'
  | 'ERR_TLS_ALERT'
  | 'ERR_TLS_CONFIG'
  | 'ERR_PROXY'
  | 'ERR_UNEXPECTED_RESPONSE'
  | 'ERR_TOO_MANY_REDIRECTS'
  | 'ERR_INVALID_REDIRECT'
  | 'ERR_REDIRECT_DOWNGRADE'
  | 'ERR_HANDSHAKE'
  | 'ERR_RESPONSE_HEADERS_TOO_LARGE'
  | 'ERR_HEADERS_TOO_LARGE'
  | 'ERR_REQUEST_TOO_LARGE'
  | 'ERR_INVALID_UTF8'
  | 'ERR_MESSAGE_TOO_BIG'
  | 'ERR_PROTOCOL'
  | 'ERR_INFLATE'
  | 'ERR_HEARTBEAT_TIMEOUT'
  | 'ERR_STALL'
  | 'ERR_CONFIG'
  | 'ERR_LOOKUP'
  | 'ERR_INVALID_IP_ADDRESS'
  | 'ERR_ON_OPEN'
  | 'ERR_SHOULD_RECONNECT'
  | 'ERR_LWS_CONTEXT'
  | 'ERR_CLOSED_BEFORE_OPEN'
  | 'ERR_ABORTED'
  | 'ERR_NOT_OPEN'
  | 'ERR_QUEUE_FULL'
  | 'ERR_MESSAGE_DROPPED';

/**
 * The code of a `TypeError` or `RangeError` thrown synchronously for a bad
 * argument or option (nothing was started).
 */
export type ArgumentErrorCode =
  | 'ERR_INVALID_URL'
  | 'ERR_INVALID_OPTION'
  | 'ERR_UNSUPPORTED_OPTION'
  | 'ERR_INVALID_HEADER'
  | 'ERR_INVALID_PROXY'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_INVALID_CLOSE_CODE'
  | 'ERR_INVALID_CLOSE_REASON'
  | 'ERR_INVALID_UTF8';

export interface ErrorDetails {
  url?: string;
  status?: number;
  headers?: Record<string, string>;
  cause?: unknown;
  syscall?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

// Node's error numbers by name (negative, libuv's): -111 for ECONNREFUSED.
let errnoByName: Map<string, number> | undefined;
function errnoOf(code: string): number | undefined {
  if (!errnoByName) {
    errnoByName = new Map();
    for (const [errno, [name]] of getSystemErrorMap()) errnoByName.set(name, errno);
    // Node reports getaddrinfo's EAI_NONAME as ENOTFOUND, with EAI_NONAME's number.
    const noname = errnoByName.get('EAI_NONAME');
    if (noname !== undefined) errnoByName.set('ENOTFOUND', noname);
  }
  return errnoByName.get(code);
}

/** An error of a connection: handshake, TLS, network or protocol failure. */
export class WebSocketError extends Error {
  declare readonly code: ErrorCode;
  declare readonly url?: string;
  /** HTTP status of a refused upgrade. */
  declare readonly status?: number;
  /** Response headers of a refused upgrade (lower-case names). */
  declare readonly headers?: Record<string, string>;
  /** System errors (`connect`, `getaddrinfo`): Node's error number, e.g. -111. */
  declare readonly errno?: number;
  /** System errors: the failed call, `connect` or `getaddrinfo`. */
  declare readonly syscall?: string;
  /** `connect` errors: the address and port connected to (the proxy's when proxied). */
  declare readonly address?: string;
  declare readonly port?: number;
  /** `getaddrinfo` errors: the name that did not resolve. */
  declare readonly hostname?: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'WebSocketError';
    this.code = code;
    if (details.syscall !== undefined) {
      const errno = errnoOf(code);
      if (errno !== undefined) this.errno = errno;
      this.syscall = details.syscall;
    }
    if (details.address !== undefined) this.address = details.address;
    if (details.port !== undefined) this.port = details.port;
    if (details.hostname !== undefined) this.hostname = details.hostname;
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

export type CodedTypeError = TypeError & { code: ArgumentErrorCode };
export type CodedRangeError = RangeError & { code: ArgumentErrorCode };

export function typeError(code: ArgumentErrorCode, message: string): CodedTypeError {
  const e = new TypeError(message) as CodedTypeError;
  e.code = code;
  return e;
}

export function rangeError(code: ArgumentErrorCode, message: string): CodedRangeError {
  const e = new RangeError(message) as CodedRangeError;
  e.code = code;
  return e;
}

/** The code of the process warning for a failure nobody listened to. */
export const UNHEARD_ERROR_WARNING = 'NLWS_UNHANDLED_ERROR';

/**
 * Unlike ws, an 'error' without listeners does not throw: failures of
 * long-lived connections are expected, and the session goes on. But it is
 * not silent either: the first one becomes a process warning (stderr by
 * default), once per session (the caller keeps the once).
 */
export function warnUnheard(err: WebSocketError, url: string): void {
  process.emitWarning(`${err.message} (${url})`, {
    type: 'WebSocketWarning',
    code: UNHEARD_ERROR_WARNING,
    detail:
      `${err.code}: nobody listens for 'error' on this session. Later failures are not shown: ` +
      "listen for 'error' to handle them (lastError and stats() keep them too).",
  });
}
