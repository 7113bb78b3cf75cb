// Connection options: validation that turns options and URL into the plain
// record the native layer takes. Everything is checked here, so nothing
// invalid reaches lws (whose asserts would abort the process).
import { createPrivateKey } from 'node:crypto';
import { describeValue, rangeError, typeError } from '../errors';
import { nodeTrustStore, trustStoreOf, type TrustStore } from '../trust';
import { bool, integer, MAX_MS, MAX_SAFE_BYTES } from './checks';
import { DEFAULTS as D } from './defaults';
import type { LogLevel, NativeConnectOptions, ResolvedOptions } from './types';

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

function ipFamily(v: unknown): number {
  if (v === undefined) return D.family;
  if (v === 0 || v === 4 || v === 6) return v;
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
  // http: and https: name the same endpoints, as in the WHATWG WebSocket
  // constructor, ws 8 and undici (a Location may well use them).
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw urlError(`URL scheme must be ws: or wss: (or http: or https:), got ${url.protocol} (${url.href})`, given);
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

  const highWaterMark = integer(o.highWaterMark, 'highWaterMark', D.highWaterMark, 1, MAX_SAFE_BYTES);
  const lowWaterMark = integer(o.lowWaterMark, 'lowWaterMark', Math.floor(highWaterMark * D.lowWaterMarkFraction), 0, highWaterMark);
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
  const fromEnv = bool(o.proxyFromEnv, 'proxyFromEnv', D.proxyFromEnv);
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
    followRedirects: bool(o.followRedirects, 'followRedirects', D.followRedirects),
    autoSelectFamily: bool(o.autoSelectFamily, 'autoSelectFamily', D.autoSelectFamily),
    // Node: "If set to a positive integer less than 10, then the value 10 will be used instead."
    autoSelectFamilyAttemptTimeout: Math.max(10, integer(o.autoSelectFamilyAttemptTimeout, 'autoSelectFamilyAttemptTimeout', D.autoSelectFamilyAttemptTimeout, 1, MAX_MS)),
    family: ipFamily(o.family),
    perMessageDeflate: bool(o.perMessageDeflate, 'perMessageDeflate', D.perMessageDeflate),
    autoPong: bool(o.autoPong, 'autoPong', D.autoPong),
    // 0: no limit, as in ws.
    maxPayload: integer(o.maxPayload, 'maxPayload', D.maxPayload, 0, MAX_SAFE_BYTES) || MAX_SAFE_BYTES,
    skipUtf8Validation: bool(o.skipUTF8Validation, 'skipUTF8Validation', D.skipUTF8Validation),
    fragmentSize: integer(o.fragmentSize, 'fragmentSize', D.fragmentSize, 1, MAX_MS),
    receiveHighWaterMark: integer(o.receiveHighWaterMark, 'receiveHighWaterMark', D.receiveHighWaterMark, 1, MAX_SAFE_BYTES),
    closeTimeoutMs: integer(o.closeTimeout, 'closeTimeout', D.closeTimeout, 1, MAX_MS),
    handshakeTimeoutMs: integer(o.handshakeTimeout, 'handshakeTimeout', D.handshakeTimeout, 1, MAX_MS),
    rejectUnauthorized: bool(o.rejectUnauthorized, 'rejectUnauthorized', D.rejectUnauthorized),
    allowSelfSigned: bool(o.allowSelfSigned, 'allowSelfSigned', D.allowSelfSigned),
    allowUnknownCA: bool(o.allowUnknownCA, 'allowUnknownCA', D.allowUnknownCA),
    allowInvalidDates: bool(o.allowInvalidDates, 'allowInvalidDates', D.allowInvalidDates),
    allowHostMismatch: bool(o.allowHostMismatch, 'allowHostMismatch', D.allowHostMismatch),
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
    textAsBuffer: bool(o.textAsBuffer, 'textAsBuffer', D.textAsBuffer),
    highWaterMark,
    lowWaterMark,
    maxRedirects: integer(o.maxRedirects, 'maxRedirects', D.maxRedirects, 0, MAX_REDIRECTS),
  };
  if (trust) result.trust = trust;
  if (logger) result.logger = logger as (level: LogLevel, line: string) => void;
  return result;
}
