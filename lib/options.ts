// Options: the public type, and validation that turns options and URL into
// the plain record the native layer takes. Everything is checked here, so
// nothing invalid reaches lws (whose asserts would abort the process).
import { createPrivateKey } from 'node:crypto';
import type { LookupFunction } from 'node:net';
import { describeValue, rangeError, typeError } from './errors';
import type { HeartbeatOptions, NativePolicy, QueueOptions, ReconnectOptions } from './policy';
import type { Action, Cause } from './wire';
import { nodeTrustStore, trustStoreOf, type TrustStore } from './trust';

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
  rxHighWater: number;
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

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Headers lws writes itself, or that options control.
const RESERVED_HEADERS = new Set([
  'host', 'connection', 'upgrade', 'origin', 'sec-websocket-key', 'sec-websocket-version',
  'sec-websocket-extensions', 'sec-websocket-protocol', 'content-length', 'transfer-encoding',
]);
const KNOWN = new Set<string>([
  'headers', 'protocols', 'origin', 'followRedirects', 'maxRedirects', 'perMessageDeflate', 'autoPong', 'maxPayload',
  'skipUTF8Validation',
  'textAsBuffer', 'handshakeTimeout', 'closeTimeout', 'highWaterMark', 'lowWaterMark',
  'receiveHighWaterMark', 'fragmentSize', 'ca', 'cert', 'key', 'passphrase', 'servername',
  'rejectUnauthorized', 'allowSelfSigned', 'allowUnknownCA', 'allowInvalidDates', 'allowHostMismatch', 'proxy', 'proxyFromEnv', 'logger',
  'autoSelectFamily', 'autoSelectFamilyAttemptTimeout', 'family', 'lookup',
  // session options (lib/policy.ts and the client)
  'reconnect', 'heartbeat', 'stallTimeoutMs', 'maxConnectionAgeMs', 'maxConnectionAgeJitterPercent', 'rotationOverlapMs',
  'queue', 'onOpen', 'shouldReconnect', 'dedupeKey', 'configTimeoutMs', 'policy', 'eventLogSize', 'signal',
]);
const MAX_SAFE_BYTES = 2 ** 53 - 1;
// lws keeps the request's URI, Host, Origin and subprotocol offer in its
// header table (16 KiB, native/server_limits.h), which then holds the
// response head too. When they do not fit, lws 4.3.5 leaks the half-made
// connection, and its timer later calls into freed memory (found by
// test/properties.test.ts). Bounded here, leaving room for the response.
const MAX_TARGET_BYTES = 8192;
const MAX_HOST_CHARS = 253;
const MAX_FIELD_BYTES = 2048;
// More hops than any real deployment makes; each is a full connection.
const MAX_REDIRECTS = 1000;

function bounded(v: string, name: string): string {
  const n = Buffer.byteLength(v);
  if (n > MAX_FIELD_BYTES) throw rangeError('ERR_OUT_OF_RANGE', `${name} is ${n} bytes; at most ${MAX_FIELD_BYTES}`);
  return v;
}

function bool(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw typeError('ERR_INVALID_OPTION', `${name} must be a boolean`);
  return v;
}

function int(v: unknown, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw typeError('ERR_INVALID_OPTION', `${name} must be an integer`);
  }
  if (v < min || v > max) throw rangeError('ERR_OUT_OF_RANGE', `${name} must be in [${min}, ${max}], got ${v}`);
  return v;
}

function ipFamily(v: unknown): number {
  if (v === undefined || v === 0 || v === 4 || v === 6) return (v as number | undefined) ?? 0;
  throw typeError('ERR_INVALID_OPTION', `family must be 0, 4 or 6, got ${describeValue(v)}`);
}

function str(v: unknown, name: string): string {
  if (v === undefined) return '';
  if (typeof v !== 'string') throw typeError('ERR_INVALID_OPTION', `${name} must be a string`);
  if (/[\r\n\0]/.test(v)) throw typeError('ERR_INVALID_OPTION', `${name} must not contain CR, LF or NUL`);
  return v;
}

function bytes(v: unknown, name: string): Buffer | string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string' || Buffer.isBuffer(v)) return v;
  throw typeError('ERR_INVALID_OPTION', `${name} must be a string or a Buffer`);
}

/** ERR_INVALID_URL naming the URL as given (`url`), with the parser's error as `cause`. */
function urlError(message: string, url: string | undefined, cause?: unknown): TypeError & { code: string; url?: string } {
  const e = typeError('ERR_INVALID_URL', message) as TypeError & { code: string; url?: string; cause?: unknown };
  if (url !== undefined) e.url = url;
  if (cause !== undefined) e.cause = cause;
  return e;
}

/**
 * An encrypted `key` opened with `passphrase` here: lws takes keys from
 * memory without asking OpenSSL's password callback, so it could never use
 * one. A wrong passphrase is then a typed error at connect().
 */
function decrypted(key: Buffer | string | undefined, passphrase: string): Buffer | string | undefined {
  if (key === undefined || passphrase === '') return key;
  try {
    return createPrivateKey({ key, passphrase }).export({ type: 'pkcs8', format: 'pem' });
  } catch (cause) {
    const e = typeError('ERR_INVALID_OPTION', 'key: cannot be read with the given passphrase');
    (e as Error & { cause?: unknown }).cause = cause;
    throw e;
  }
}

export function parseUrl(input: unknown): URL {
  let url: URL;
  if (input instanceof URL) {
    url = new URL(input.href);
  } else if (typeof input === 'string') {
    try {
      url = new URL(input);
    } catch (cause) {
      throw urlError(`invalid URL: ${input}`, input, cause);
    }
  } else {
    throw urlError('url must be a string or a URL', undefined);
  }
  const given = typeof input === 'string' ? input : url.href;
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw urlError(`URL scheme must be ws: or wss:, got ${url.protocol} (${url.href})`, given);
  }
  if (url.hash) throw urlError(`URL must not have a fragment: ${url.href}`, given);
  if (!url.hostname) throw urlError(`URL has no host: ${url.href}`, given);
  if (url.hostname.length > MAX_HOST_CHARS) {
    throw urlError(`URL host is ${url.hostname.length} characters; a DNS name has at most ${MAX_HOST_CHARS}`, given);
  }
  const target = Buffer.byteLength(url.pathname) + Buffer.byteLength(url.search);
  if (target > MAX_TARGET_BYTES) {
    throw urlError(`URL path and query are ${target} bytes; at most ${MAX_TARGET_BYTES} fit the request`, given);
  }
  return url;
}

function parseHeaders(h: unknown, out: string[]): void {
  if (h === undefined) return;
  if (typeof h !== 'object' || h === null || Array.isArray(h)) {
    throw typeError('ERR_INVALID_OPTION', 'headers must be an object of name: value');
  }
  for (const [name, value] of Object.entries(h as Record<string, unknown>)) {
    if (!TOKEN.test(name)) throw typeError('ERR_INVALID_HEADER', `invalid header name: ${JSON.stringify(name)}`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) {
      throw typeError('ERR_INVALID_HEADER', `header ${name} is set by the client itself (use the matching option)`);
    }
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw typeError('ERR_INVALID_HEADER', `header ${name} must have a string value`);
    }
    const v = String(value);
    if (/[\r\n\0]/.test(v)) throw typeError('ERR_INVALID_HEADER', `header ${name} contains CR, LF or NUL`);
    out.push(name, v);
  }
}

function parseProtocols(p: unknown): string {
  if (p === undefined) return '';
  const list = typeof p === 'string' ? [p] : Array.isArray(p) ? (p as unknown[]) : null;
  if (!list) throw typeError('ERR_INVALID_OPTION', 'protocols must be a string or an array of strings');
  const seen = new Set<string>();
  for (const x of list) {
    if (typeof x !== 'string' || !TOKEN.test(x)) {
      throw typeError('ERR_INVALID_OPTION', `invalid subprotocol: ${describeValue(x)}`);
    }
    if (seen.has(x)) throw typeError('ERR_INVALID_OPTION', `subprotocol listed twice: ${x}`);
    seen.add(x);
  }
  return list.join(', ');
}

function proxyFromEnv(url: URL): string | undefined {
  const env = process.env;
  const noProxy = env.no_proxy ?? env.NO_PROXY ?? '';
  const host = url.hostname.replace(/^\[|\]$/g, '');
  for (const entry of noProxy.split(/[\s,]+/).filter(Boolean)) {
    if (entry === '*') return undefined;
    const e = entry.replace(/^\*?\./, '');
    if (host === e || host.endsWith(`.${e}`)) return undefined;
  }
  return url.protocol === 'wss:'
    ? env.https_proxy ?? env.HTTPS_PROXY ?? env.http_proxy ?? env.HTTP_PROXY
    : env.http_proxy ?? env.HTTP_PROXY;
}

/** "user:pass" from a URL's userinfo; a malformed %-escape (URIError) becomes `fail`'s typed error. */
function credentials(u: URL, fail: (cause: unknown) => Error): string {
  try {
    return `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  } catch (cause) {
    throw fail(cause);
  }
}

function parseProxy(p: unknown): { host: string; port: number; auth: string } {
  let u: URL;
  try {
    u = new URL(String(p));
  } catch (cause) {
    const e = typeError('ERR_INVALID_PROXY', `invalid proxy URL: ${String(p)}`);
    (e as Error & { cause?: unknown }).cause = cause;
    throw e;
  }
  if (u.protocol !== 'http:') throw typeError('ERR_INVALID_PROXY', `proxy must be an http:// URL, got ${u.protocol}`);
  const auth = u.username ? credentials(u, (cause) => {
    const e = typeError('ERR_INVALID_PROXY', `proxy credentials are not valid percent-encoding: ${u.href}`);
    (e as Error & { cause?: unknown }).cause = cause;
    return e;
  }) : '';
  if (auth.length > 90) throw rangeError('ERR_INVALID_PROXY', 'proxy credentials are too long (90 bytes at most)');
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 80, auth };
}

export function resolveOptions(input: unknown, options: unknown = {}): ResolvedOptions {
  const url = parseUrl(input);
  if (typeof options !== 'object' || options === null) {
    throw typeError('ERR_INVALID_OPTION', 'options must be an object');
  }
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) throw typeError('ERR_INVALID_OPTION', `unknown option: ${k}`);
  }
  const secure = url.protocol === 'wss:';
  const ipv6Literal = url.hostname.startsWith('[');
  const headers: string[] = [];
  if (url.username) {
    const cred = credentials(url, (cause) => urlError(`URL credentials are not valid percent-encoding: ${url.href}`, typeof input === 'string' ? input : url.href, cause));
    headers.push('Authorization', `Basic ${Buffer.from(cred).toString('base64')}`);
  }
  if (typeof o.headers !== 'function') parseHeaders(o.headers, headers);

  const highWaterMark = int(o.highWaterMark, 'highWaterMark', 1024 * 1024, 1, MAX_SAFE_BYTES);
  const lowWaterMark = int(o.lowWaterMark, 'lowWaterMark', Math.floor(highWaterMark / 4), 0, highWaterMark);
  const logger = o.logger;
  if (logger !== undefined && typeof logger !== 'function') {
    throw typeError('ERR_INVALID_OPTION', 'logger must be a function');
  }

  let trust: TrustStore | undefined;
  if (secure) {
    trust = o.ca === undefined ? nodeTrustStore() : trustStoreOf(o.ca as string | Buffer);
  } else if (o.ca !== undefined) {
    trustStoreOf(o.ca as string | Buffer); // still validated
  }
  const cert = bytes(o.cert, 'cert');
  const passphrase = str(o.passphrase, 'passphrase');
  const key = decrypted(bytes(o.key, 'key'), passphrase);
  if ((cert === undefined) !== (key === undefined)) {
    throw typeError('ERR_INVALID_OPTION', 'cert and key must be given together');
  }

  let proxyUrl: unknown = o.proxy;
  const fromEnv = bool(o.proxyFromEnv, 'proxyFromEnv', false);
  if (proxyUrl === undefined && fromEnv) proxyUrl = proxyFromEnv(url);
  if (proxyUrl !== undefined && typeof proxyUrl !== 'string' && !(proxyUrl instanceof URL)) {
    throw typeError('ERR_INVALID_PROXY', 'proxy must be a string or a URL');
  }
  const proxy = proxyUrl === undefined || proxyUrl === '' ? { host: '', port: 0, auth: '' } : parseProxy(proxyUrl);

  const servername = str(o.servername, 'servername');
  if (servername && (!/^[A-Za-z0-9.-]+$/.test(servername) || servername.length > MAX_HOST_CHARS)) {
    throw typeError('ERR_INVALID_OPTION', `servername must be a DNS name, got ${servername.slice(0, 300)}`);
  }

  const native: NativeConnectOptions = {
    host: ipv6Literal ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port ? Number(url.port) : secure ? 443 : 80,
    ipv6Literal,
    path: `${url.pathname || '/'}${url.search}`,
    secure,
    servername,
    origin: bounded(str(o.origin, 'origin'), 'origin'),
    protocols: bounded(parseProtocols(o.protocols), 'protocols'),
    headers,
    followRedirects: bool(o.followRedirects, 'followRedirects', false),
    autoSelectFamily: bool(o.autoSelectFamily, 'autoSelectFamily', true),
    // Node: "If set to a positive integer less than 10, then the value 10 will be used instead."
    autoSelectFamilyAttemptTimeout: Math.max(10, int(o.autoSelectFamilyAttemptTimeout, 'autoSelectFamilyAttemptTimeout', 250, 1, 2 ** 31 - 1)),
    family: ipFamily(o.family),
    perMessageDeflate: bool(o.perMessageDeflate, 'perMessageDeflate', true),
    autoPong: bool(o.autoPong, 'autoPong', true),
    // 0: no limit, as in ws.
    maxPayload: int(o.maxPayload, 'maxPayload', 100 * 1024 * 1024, 0, MAX_SAFE_BYTES) || MAX_SAFE_BYTES,
    skipUtf8Validation: bool(o.skipUTF8Validation, 'skipUTF8Validation', false),
    fragmentSize: int(o.fragmentSize, 'fragmentSize', 64 * 1024, 1, 2 ** 31 - 1),
    rxHighWater: int(o.receiveHighWaterMark, 'receiveHighWaterMark', 16 * 1024 * 1024, 1, MAX_SAFE_BYTES),
    closeTimeoutMs: int(o.closeTimeout, 'closeTimeout', 5000, 1, 2 ** 31 - 1),
    handshakeTimeoutMs: int(o.handshakeTimeout, 'handshakeTimeout', 30000, 1, 2 ** 31 - 1),
    rejectUnauthorized: bool(o.rejectUnauthorized, 'rejectUnauthorized', true),
    allowSelfSigned: bool(o.allowSelfSigned, 'allowSelfSigned', false),
    allowUnknownCA: bool(o.allowUnknownCA, 'allowUnknownCA', false),
    allowInvalidDates: bool(o.allowInvalidDates, 'allowInvalidDates', false),
    allowHostMismatch: bool(o.allowHostMismatch, 'allowHostMismatch', false),
    caKey: trust ? trust.key : '',
    cert,
    key,
    passphrase: '',
    proxyHost: proxy.host,
    proxyPort: proxy.port,
    proxyAuth: proxy.auth,
  };
  const result: ResolvedOptions = {
    url,
    native,
    textAsBuffer: bool(o.textAsBuffer, 'textAsBuffer', false),
    highWaterMark,
    lowWaterMark,
    maxRedirects: int(o.maxRedirects, 'maxRedirects', 10, 0, MAX_REDIRECTS),
  };
  if (trust) result.trust = trust;
  if (logger) result.logger = logger as (level: LogLevel, line: string) => void;
  return result;
}
