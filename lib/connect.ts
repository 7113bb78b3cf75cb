// connect(): validates the URL and options and starts a session.
import { WebSocketClient, type SessionSetup } from './client';
import { rangeError, typeError } from './errors';
import { MAX_MS as MAX_TIMER_MS } from './options/checks';
import { DEFAULTS } from './options/defaults';
import { resolvePolicy } from './options/session';
import type { ConnectOptions, Dynamic, HeadersInput, ProxyInput } from './options/types';
import { resolveOptions } from './options/validate';

export type UrlInput = string | URL;

const MAX_EVENT_LOG = 1_000_000;

function isFn<T>(v: Dynamic<T> | undefined): v is () => T | Promise<T> {
  return typeof v === 'function';
}

/**
 * Opens a session and returns at once: a connection that is kept up
 * (heartbeat, reconnect with backoff, offline queue) until close() or a
 * failure that retrying cannot fix. Bad URLs and options throw
 * synchronously (TypeError/RangeError with a `code`); everything after that
 * is reported through events and `opened`.
 *
 * `url` and `options.headers` may be (async) functions, called before every
 * attempt (credentials and endpoints that change).
 */
export function connect(url: Dynamic<UrlInput>, options?: ConnectOptions): WebSocketClient {
  const user: ConnectOptions = options ?? {};
  if (typeof user === 'string' || Array.isArray(user)) {
    // ws's (url, protocols) call shape: say what to write instead.
    throw typeError('ERR_INVALID_OPTION', "connect()'s second argument is the options: give subprotocols as { protocols: [...] }, or use the WebSocket class (ws's constructor)");
  }
  if (typeof user !== 'object' || user === null) throw typeError('ERR_INVALID_OPTION', 'options must be an object');
  for (const hook of ['onOpen', 'shouldReconnect', 'dedupeKey', 'lookup'] as const) {
    if (user[hook] !== undefined && typeof user[hook] !== 'function') {
      throw typeError('ERR_INVALID_OPTION', `${hook} must be a function`);
    }
  }
  if (user.signal !== undefined && !(user.signal instanceof AbortSignal)) {
    throw typeError('ERR_INVALID_OPTION', 'signal must be an AbortSignal');
  }
  const configTimeoutMs = user.configTimeoutMs ?? DEFAULTS.configTimeoutMs;
  if (!Number.isInteger(configTimeoutMs)) throw typeError('ERR_INVALID_OPTION', 'configTimeoutMs must be an integer');
  // Node's timers take at most 2^31-1 ms (larger ones fire after 1 ms).
  if (configTimeoutMs < 1 || configTimeoutMs > MAX_TIMER_MS) {
    throw rangeError('ERR_OUT_OF_RANGE', `configTimeoutMs must be in [1, ${MAX_TIMER_MS}], got ${configTimeoutMs}`);
  }
  // Read when events arrive, long after connect() returned: checked now.
  const eventLogSize = user.eventLogSize ?? DEFAULTS.eventLogSize;
  if (!Number.isInteger(eventLogSize)) throw typeError('ERR_INVALID_OPTION', 'eventLogSize must be an integer');
  if (eventLogSize < 0 || eventLogSize > MAX_EVENT_LOG) {
    throw rangeError('ERR_OUT_OF_RANGE', `eventLogSize must be in [0, ${MAX_EVENT_LOG}], got ${eventLogSize}`);
  }
  const urlFn = isFn(url) ? url : undefined;
  const headersFn = isFn<HeadersInput>(user.headers) ? user.headers : undefined;
  const proxyFn = isFn<ProxyInput>(user.proxy) ? user.proxy : undefined;
  const dynamic = urlFn !== undefined || headersFn !== undefined || proxyFn !== undefined;
  const policy = resolvePolicy({
    ...user,
    hookConfig: dynamic,
    // Only a proxy function can bring new proxy credentials for a retry.
    proxyRefresh: proxyFn !== undefined,
    hookDecide: user.shouldReconnect !== undefined,
    hookOnOpen: user.onOpen !== undefined,
    hookLookup: user.lookup !== undefined,
  });
  // Validates everything static now; with a url function, against a
  // stand-in URL (its own result is checked before each attempt), and so
  // for a proxy function.
  const initial = resolveOptions(urlFn ? 'ws://url-function.invalid/' : url, proxyFn ? { ...user, proxy: undefined } : user);
  initial.native.policy = policy.native;
  const setup: SessionSetup = {
    initial,
    configTimeoutMs,
    overflow: policy.overflow,
    queueMaxMessages: policy.queueMaxMessages,
    queueMaxBytes: policy.queueMaxBytes,
    eventLogSize,
    user,
  };
  if (dynamic) {
    setup.configure = async () => {
      const u = urlFn ? await urlFn() : (url as UrlInput);
      const headers = headersFn ? await headersFn() : user.headers;
      const proxy = proxyFn ? await proxyFn() : user.proxy;
      return resolveOptions(u, { ...user, headers, proxy });
    };
  }
  return new WebSocketClient(setup);
}

