// The options of ws's client (its constructor's third argument) as
// connect() options: what maps, what has no effect here (as in ws), and what
// cannot be honoured, which throws ERR_UNSUPPORTED_OPTION saying why rather
// than being ignored.
import { describeValue, typeError, type CodedTypeError } from './errors';
import type { ConnectOptions } from './options/types';

/** ws's `perMessageDeflate` sub-options: none can be honoured (lws negotiates its own parameters). */
export interface PerMessageDeflateOptions {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number;
  clientMaxWindowBits?: number;
  zlibDeflateOptions?: object;
  zlibInflateOptions?: object;
  threshold?: number;
  concurrencyLimit?: number;
}

/** The options of ws's client that this WebSocket honours, beside every connect() option. */
export interface WsClientOptions {
  /** ws's name for `maxPayload` etc. are the same; these are ws's own. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Only 13 (RFC 6455). */
  protocolVersion?: number;
  /** Subprotocols, when not given as the constructor's second argument. */
  protocols?: string | readonly string[];
  /** `user:password` for Basic authentication, as in http.request. */
  auth?: string;
  /** Extra handshake headers; array values are joined with ", ". */
  headers?: Record<string, string | number | readonly string[]>;
  /** Accepted for compatibility; no effect (events are delivered in batches here). */
  allowSynchronousEvents?: boolean;
  /** Accepted for compatibility; no effect (messages are reassembled natively within maxPayload). */
  maxBufferedChunks?: number;
  /** Accepted for compatibility; no effect (messages are reassembled natively within maxPayload). */
  maxFragments?: number;
  /** http.request options ws overrides for a client: accepted and ignored, as in ws. */
  host?: string;
  hostname?: string;
  port?: number | string;
  path?: string;
  protocol?: string;
  method?: string;
  timeout?: number;
}

export type WebSocketOptions = Omit<ConnectOptions, 'textAsBuffer' | 'protocols' | 'headers' | 'perMessageDeflate'> &
  WsClientOptions & {
    headers?: ConnectOptions['headers'] | WsClientOptions['headers'];
  };

/** ws and http.request options that cannot be honoured, and why. */
const UNSUPPORTED: Record<string, string> = {
  agent: 'connections are made by libwebsockets on its own thread, not by an http.Agent',
  createConnection: 'connections are made by libwebsockets on its own thread',
  lookup: 'names are resolved by the service thread (getaddrinfo)',
  family: 'names are resolved by the service thread (getaddrinfo)',
  hints: 'names are resolved by the service thread (getaddrinfo)',
  localAddress: 'the local address cannot be chosen',
  localPort: 'the local port cannot be chosen',
  generateMask: 'libwebsockets generates the masking keys',
  finishRequest: 'the upgrade request is written by libwebsockets',
  maxPendingAutoPongs: 'the PONGs owed are bounded natively (the 32 most recent are kept)',
  insecureHTTPParser: 'the response is parsed by libwebsockets',
  maxHeaderSize: 'the response head is limited to 16 KiB (README, "Limits")',
  joinDuplicateHeaders: 'the response is parsed by libwebsockets',
  setHost: 'the Host header is always sent',
  pfx: 'give the certificate and key as `cert` and `key` (PEM)',
  ciphers: 'the TLS settings are OpenSSL\'s defaults',
  ecdhCurve: 'the TLS settings are OpenSSL\'s defaults',
  minVersion: 'the TLS settings are OpenSSL\'s defaults',
  maxVersion: 'the TLS settings are OpenSSL\'s defaults',
  secureProtocol: 'the TLS settings are OpenSSL\'s defaults',
  secureOptions: 'the TLS settings are OpenSSL\'s defaults',
  sigalgs: 'the TLS settings are OpenSSL\'s defaults',
  checkServerIdentity: 'the certificate is checked natively (allowHostMismatch relaxes the name check)',
  crl: 'certificate revocation lists are not supported',
  ALPNProtocols: 'the TLS settings are OpenSSL\'s defaults',
  session: 'TLS sessions are not resumed across this option',
  requestOCSP: 'OCSP is not supported',
  textAsBuffer: 'the WebSocket class delivers text as a Buffer, as ws does (textAsBuffer is a connect() option)',
};

/** ws options (and http.request ones ws overrides) that ws itself ignores for a client. */
const IGNORED_AS_IN_WS = new Set(['host', 'hostname', 'port', 'path', 'protocol', 'method', 'timeout', 'socketPath']);

const NO_EFFECT = new Set(['allowSynchronousEvents', 'maxBufferedChunks', 'maxFragments']);

/** `unsupported option: x (why)`, a TypeError with code ERR_UNSUPPORTED_OPTION. */
export function unsupported(name: string, why: string): CodedTypeError {
  return typeError('ERR_UNSUPPORTED_OPTION', `unsupported option: ${name} (${why})`);
}

function wsHeaders(h: unknown): ConnectOptions['headers'] {
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return h as ConnectOptions['headers'];
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) {
    if (Array.isArray(value)) out[name] = value.map(String).join(', ');
    else out[name] = value as string;
  }
  return out;
}

/**
 * The connect() options for `new WebSocket(url, protocols, options)`:
 * reconnect off unless asked, text delivered as Buffer.
 */
export function fromWsOptions(options: unknown, protocols: unknown): ConnectOptions {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw typeError('ERR_INVALID_OPTION', 'options must be an object');
  const o: Record<string, unknown> = { ...(options as Record<string, unknown>) };
  for (const [name, why] of Object.entries(UNSUPPORTED)) {
    if (o[name] !== undefined) throw unsupported(name, why);
  }
  for (const name of IGNORED_AS_IN_WS) delete o[name];
  for (const name of NO_EFFECT) {
    const v = o[name];
    if (v !== undefined && typeof v !== (name === 'allowSynchronousEvents' ? 'boolean' : 'number')) {
      throw typeError('ERR_INVALID_OPTION', `${name} must be a ${name === 'allowSynchronousEvents' ? 'boolean' : 'number'}`);
    }
    delete o[name];
  }
  if (o.protocolVersion !== undefined) {
    if (o.protocolVersion !== 13) throw unsupported('protocolVersion', `only 13 (RFC 6455), got ${describeValue(o.protocolVersion)}`);
    delete o.protocolVersion;
  }
  const pmd = o.perMessageDeflate;
  if (typeof pmd === 'object' && pmd !== null) {
    const keys = Object.keys(pmd).filter((k) => (pmd as Record<string, unknown>)[k] !== undefined);
    if (keys.length > 0) {
      throw unsupported(`perMessageDeflate.${keys[0]}`, 'libwebsockets negotiates permessage-deflate with its own parameters; pass true or false');
    }
    o.perMessageDeflate = true;
  }
  if (o.auth !== undefined) {
    if (typeof o.auth !== 'string' || !o.auth.includes(':')) throw typeError('ERR_INVALID_OPTION', "auth must be 'user:password'");
    const basic = `Basic ${Buffer.from(o.auth).toString('base64')}`;
    const h = o.headers;
    if (typeof h === 'function') throw typeError('ERR_INVALID_OPTION', 'auth cannot be combined with a headers function');
    o.headers = { ...((h as Record<string, unknown>) ?? {}), Authorization: basic };
    delete o.auth;
  }
  if (typeof o.headers === 'object') o.headers = wsHeaders(o.headers);
  if (protocols !== undefined) o.protocols = protocols;
  return { reconnect: false, ...o, textAsBuffer: true } as ConnectOptions;
}
