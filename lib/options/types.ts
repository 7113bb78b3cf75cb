// The options' types: what connect() takes (ConnectOptions and its
// sections), what its hooks are given, and the records sent to the native
// layer (NativeConnectOptions, NativePolicy: every field, always).
import type { LookupFunction } from 'node:net';
import type { TrustStore } from '../trust';
import type { Action, Cause, JitterMode, OverflowPolicy } from '../wire';

export type LogLevel = 'error' | 'warn' | 'notice' | 'info' | 'debug';

/** What shouldReconnect() is asked about. */
export interface ReconnectInfo {
  cause: Cause;
  code: number;
  reason: string;
  status?: number;
  /** The attempt this retry would be. */
  attempt: number;
  /** What the built-in classifier would do, and why. */
  action: Action;
  delayMs: number;
  why: string;
}

/** Given to onOpen: the new connection, before the backlog is flushed. */
export interface OpenSession {
  /** Sends on this connection, ahead of everything queued. */
  send(data: string | Buffer | ArrayBuffer | ArrayBufferView, options?: { binary?: boolean }): void;
  readonly protocol: string;
  readonly extensions: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly reconnected: boolean;
  /** 'open' for a (re)connection, 'rotate' for a replacement connection. */
  readonly reason: 'open' | 'rotate';
}

export type HeadersInput = Record<string, string>;
export type Dynamic<T> = T | (() => T | Promise<T>);

/** A proxy URL, or undefined for none. */
export type ProxyInput = string | URL | undefined;

export interface ConnectOptions {
  /** Extra request headers for the opening handshake; a function is called before every attempt. */
  headers?: Dynamic<HeadersInput>;
  /** Reconnect after abnormal losses (default true), with these settings. */
  reconnect?: boolean | ReconnectOptions;
  /** Keepalive PINGs and dead-link detection (default on: 30 s / 10 s). */
  heartbeat?: boolean | HeartbeatOptions;
  /** Reconnect when no message arrived for this long while open, ms. Default 0 (off). */
  stallTimeoutMs?: number;
  /** Replace the connection (make-before-break) after this long, ms. Default 0 (off). */
  maxConnectionAgeMs?: number;
  /** Rotate up to this much earlier than maxConnectionAgeMs, percent. Default 10. */
  maxConnectionAgeJitterPercent?: number;
  /** After a rotation's switch, the old connection still delivers for this long, ms. Default 1000. */
  rotationOverlapMs?: number;
  /** The outgoing queue while not open. */
  queue?: QueueOptions;
  /** Runs after every (re)connection, before queued messages are flushed. */
  onOpen?: (session: OpenSession) => void | Promise<void>;
  /** Overrides the reconnect decision after a failure. */
  shouldReconnect?: (info: ReconnectInfo) => boolean | { delayMs: number } | Promise<boolean | { delayMs: number }>;
  /** Key identifying a message, to drop duplicates delivered across a rotation. */
  dedupeKey?: (data: string | Buffer, isBinary: boolean) => unknown;
  /** Time allowed to the url and headers functions, ms. Default 10000. */
  configTimeoutMs?: number;
  /** The retry section of an lws Secure Streams policy (JSON text or object). */
  policy?: string | object;
  /** Connection events kept in stats().log. Default 100. */
  eventLogSize?: number;
  /** Subprotocols to offer (`Sec-WebSocket-Protocol`). */
  protocols?: string | readonly string[];
  /** `Origin` header value. */
  origin?: string;
  /** Follow 301, 302, 303, 307 and 308 answers to the upgrade request, each hop a fresh connection. Default false. */
  followRedirects?: boolean;
  /** Redirects followed in a row before failing with ERR_TOO_MANY_REDIRECTS. Default 10. */
  maxRedirects?: number;
  /** Try every address the host resolves to, families interleaved, racing them (RFC 8305), as Node's net. Default true. */
  autoSelectFamily?: boolean;
  /** Start the next address after this long without a connection on the previous ones, ms. Default 250 (less than 10 counts as 10). */
  autoSelectFamilyAttemptTimeout?: number;
  /** Use only addresses of this IP family (4 or 6); 0 for both. Default 0. */
  family?: number;
  /** Resolves the host instead of the system resolver, with dns.lookup's signature (service discovery). */
  lookup?: LookupFunction;
  /** Offer permessage-deflate. Default true. */
  perMessageDeflate?: boolean;
  /** Answer the server's PINGs natively. Default true; false leaves that to pong() in a 'ping' listener. */
  autoPong?: boolean;
  /** Largest message accepted, in bytes; larger ones close with 1009. 0: no limit (as in ws). Default 100 MiB. */
  maxPayload?: number;
  /** Do not check that text messages and close reasons are UTF-8 (as ws's option). Default false. */
  skipUTF8Validation?: boolean;
  /** Deliver text messages as Buffer instead of string. Default false. */
  textAsBuffer?: boolean;
  /** Time allowed for the opening handshake, ms. Default 30000. */
  handshakeTimeout?: number;
  /** Time allowed for the closing handshake before TCP is dropped, ms. Default 5000. */
  closeTimeout?: number;
  /** send() returns false once bufferedAmount exceeds this, bytes. Default 1 MiB. */
  highWaterMark?: number;
  /** 'drain' fires when bufferedAmount falls to this, bytes. Default highWaterMark / 4. */
  lowWaterMark?: number;
  /** Received bytes JS has not yet taken before reading pauses, bytes. Default 16 MiB. */
  receiveHighWaterMark?: number;
  /** Outgoing messages larger than this are sent as several frames, bytes. Default 64 KiB. */
  fragmentSize?: number;
  /** Trusted CA certificates (PEM or DER), replacing Node's root store. */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** Client certificate chain (PEM). */
  cert?: string | Buffer;
  /** Client private key (PEM). */
  key?: string | Buffer;
  /** Passphrase of `key`. */
  passphrase?: string;
  /** Name for SNI and certificate verification (also sent as Host). */
  servername?: string;
  /** Verify the server certificate. Default true; false turns every check below off. */
  rejectUnauthorized?: boolean;
  /** Accept a self-signed server certificate, or a chain ending in an untrusted self-signed root. Default false. */
  allowSelfSigned?: boolean;
  /** Accept a certificate whose issuer is not in the trust store (not self-signed). Default false. */
  allowUnknownCA?: boolean;
  /** Accept certificates outside their validity period: expired or not yet valid. Default false. */
  allowInvalidDates?: boolean;
  /** Accept a certificate that does not name the host (DNS name or IP address) connected to. Default false. */
  allowHostMismatch?: boolean;
  /**
   * HTTP proxy, `http://[user:pass@]host:port`; CONNECT is used for ws and
   * wss. A function is called before every attempt (credentials that
   * change); it alone lets a retry follow a proxy's 407.
   */
  proxy?: Dynamic<ProxyInput>;
  /** Take the proxy from `https_proxy`/`http_proxy` (and honour `no_proxy`). Default false. */
  proxyFromEnv?: boolean;
  /** Receives libwebsockets' log lines. */
  logger?: (level: LogLevel, line: string) => void;
  /** Ends the session when aborted (as close() does); `opened` then rejects with ERR_ABORTED. */
  signal?: AbortSignal;
}

/** The record passed to the native connect(). */
export interface NativeConnectOptions {
  host: string;
  port: number;
  ipv6Literal: boolean;
  path: string;
  secure: boolean;
  servername: string;
  origin: string;
  protocols: string;
  headers: string[];
  followRedirects: boolean;
  autoSelectFamily: boolean;
  autoSelectFamilyAttemptTimeout: number;
  family: number;
  perMessageDeflate: boolean;
  autoPong: boolean;
  maxPayload: number;
  skipUtf8Validation: boolean;
  fragmentSize: number;
  receiveHighWaterMark: number;
  closeTimeoutMs: number;
  handshakeTimeoutMs: number;
  rejectUnauthorized: boolean;
  allowSelfSigned: boolean;
  allowUnknownCA: boolean;
  allowInvalidDates: boolean;
  allowHostMismatch: boolean;
  caKey: string;
  caDer?: Buffer[];
  cert?: Buffer | string | undefined;
  key?: Buffer | string | undefined;
  passphrase: string;
  proxyHost: string;
  proxyPort: number;
  proxyAuth: string;
  policy?: NativePolicy;
}

export interface ResolvedOptions {
  url: URL;
  native: NativeConnectOptions;
  trust?: TrustStore;
  textAsBuffer: boolean;
  highWaterMark: number;
  lowWaterMark: number;
  maxRedirects: number;
  logger?: (level: LogLevel, line: string) => void;
}

export interface HeartbeatOptions {
  /** Send a PING after this long without proof of life, ms. Default 30000. */
  intervalMs?: number;
  /** Drop the connection when no proof of life follows the PING within this, ms. Default 10000. */
  timeoutMs?: number;
  /** Only PONGs prove life (default: any frame received does). */
  pongOnly?: boolean;
}

export interface ReconnectOptions {
  /** Delays between attempts, ms; the last repeats. Default [1800, 3600, 7200, 15000, 30000, 60000]. */
  backoffMs?: readonly number[];
  /** 'full': each delay is uniform in [0, backoffMs[n]]; 'add': backoffMs[n] plus 0..jitterPercent % (lws's retry helper). Default 'full' ('add' when jitterPercent is given). */
  jitter?: JitterMode;
  /** With jitter 'add': the random extra, 0-100 % of each delay. Default 30. */
  jitterPercent?: number;
  /** A server's Retry-After (429, 503) is followed up to this, ms. Default 3600000 (one hour). */
  maxRetryAfterMs?: number;
  /** Consecutive failed attempts before giving up; 0: never give up. Default 0. */
  maxAttempts?: number;
  /** Uptime after which the attempt counter starts over, ms. Default 30000. */
  resetAfterMs?: number;
  /** Reconnect after the server closes with 1000. Default true. */
  onNormalClose?: boolean;
}

export interface QueueOptions {
  /** Messages held while not open. Default 1000. */
  maxMessages?: number;
  /** Bytes held while not open. Default 16 MiB. */
  maxBytes?: number;
  /** Queued messages older than this are dropped instead of sent, ms; 0: never. Default 0. */
  ttlMs?: number;
  /** What a send() beyond the bounds does. Default 'reject'. */
  overflow?: OverflowPolicy;
}

/** The retry section of an lws Secure Streams policy (one entry). */
export interface LwsRetryPolicy {
  backoff?: number[];
  conceal?: number;
  jitterpc?: number;
  svalidping?: number;
  svalidhup?: number;
}

export interface NativePolicy {
  reconnect: boolean;
  backoffMs: number[];
  /** The JitterMode's index in JITTER_MODES. */
  jitter: number;
  jitterPercent: number;
  maxRetryAfterMs: number;
  maxAttempts: number;
  resetAfterMs: number;
  reconnectOnNormalClose: boolean;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  pongOnly: boolean;
  stallTimeoutMs: number;
  maxConnectionAgeMs: number;
  maxConnectionAgeJitterPercent: number;
  rotationOverlapMs: number;
  queueMaxMessages: number;
  queueMaxBytes: number;
  queueTtlMs: number;
  /** The OverflowPolicy's index in OVERFLOW_POLICIES. */
  overflow: number;
  hookConfig: boolean;
  hookDecide: boolean;
  hookOnOpen: boolean;
  proxyRefresh: boolean;
  hookLookup: boolean;
}

/** The session options of connect(), and which hooks need the JS thread. */
export type PolicyInput = Pick<
  ConnectOptions,
  'reconnect' | 'heartbeat' | 'stallTimeoutMs' | 'maxConnectionAgeMs' | 'maxConnectionAgeJitterPercent' | 'rotationOverlapMs' | 'queue' | 'policy'
> & {
  hookConfig: boolean;
  hookDecide: boolean;
  hookOnOpen: boolean;
  proxyRefresh?: boolean;  // a proxy function gives each attempt its credentials
  hookLookup?: boolean;
};

export interface ResolvedPolicy {
  native: NativePolicy;
  overflow: OverflowPolicy;
  queueMaxMessages: number;
  queueMaxBytes: number;
}
