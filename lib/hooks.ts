// The session's JS hooks, run when the service thread asks: the url/headers
// functions before an attempt, a redirect's next hop, the lookup option,
// shouldReconnect and onOpen. Each answers the addon through the dispatcher.
import { ADDRCONFIG } from 'node:dns';
import { isIP } from 'node:net';
import { WebSocketError } from './errors';
import { native } from './dispatch';
import type { ConnectOptions, OpenSession, ReconnectInfo, ResolvedOptions } from './options/types';
import { redirectOptions, type RedirectRequest } from './redirect';
import { decodeJson, EventType, type OpenPayload, type OverflowPolicy } from './wire';
import type { RedirectInfo } from './events';
import type { RecentAttempts } from './attempts';
import { messagePayload } from './payload';

/** Codes a lookup function's error keeps (dns.lookup's); others become ERR_LOOKUP. */
const LOOKUP_CODES = new Set<string>(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL']);

/** How a session gets the url/headers of each attempt, and its hooks. */
export interface SessionSetup {
  /** The first attempt's options when they are static (else computed per attempt). */
  initial: ResolvedOptions;
  /** Computes the options of one attempt (url/headers functions). */
  configure?: () => Promise<ResolvedOptions>;
  configTimeoutMs: number;
  overflow: OverflowPolicy;
  queueMaxMessages: number;
  queueMaxBytes: number;
  /** Connection events kept in stats().log. */
  eventLogSize: number;
  user: ConnectOptions;
}

/** What the hooks need of their session (WebSocketClient). */
export interface HookHost {
  readonly id: number;
  readonly setup: SessionSetup;
  url(): string;
  setUrl(url: string): void;
  /** The options of recent attempts (redirects start from them). */
  readonly attempts: RecentAttempts;
  redirected(info: RedirectInfo): void;
  failed(error: WebSocketError): void;
  /** onOpen queued `size` bytes (bufferedAmount). */
  queued(size: number): void;
}

/** A hook's request from the service thread (an event of one of these types), decoded and run. */
export function runHook(h: HookHost, type: EventType, value: number, chunk: Buffer, offset: number, length: number): void {
  switch (type) {
    case EventType.NeedConfig:
      // A redirect's next hop carries its request; a fresh attempt nothing.
      if (length > 0) redirect(h, value, decodeJson<RedirectRequest>(chunk, offset, length));
      else configure(h, value);
      return;
    case EventType.Decide:
      decide(h, decodeJson<ReconnectInfo>(chunk, offset, length));
      return;
    case EventType.OnOpen:
      runOnOpen(h, value, decodeJson<OpenPayload>(chunk, offset, length));
      return;
    case EventType.NeedLookup:
      lookup(h, value, decodeJson<{ host: string; family: number; all: boolean }>(chunk, offset, length));
      return;
    default:
      return;
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** url/headers functions: computed for each attempt, with a time limit. */
export function configure(h: HookHost, attempt: number): void {
  const configure = h.setup.configure;
  if (!configure) {
    native.config(h.id, attempt, null, undefined, 'no configuration function');
    return;
  }
  withTimeout(configure(), h.setup.configTimeoutMs, 'the url/headers functions').then(
    (resolved) => {
      h.setUrl(resolved.url.href);
      h.attempts.remember(attempt, { options: resolved });
      native.config(h.id, attempt, { ...resolved.native }, resolved.trust, '');
    },
    (e: unknown) => native.config(h.id, attempt, null, undefined, messageOf(e)),
  );
}

/**
 * The next hop of a redirect (lib/redirect.ts decides what it carries),
 * or the error that refuses it. Not the url/headers functions: they run
 * once per fresh attempt; a reconnect starts over from the session's URL.
 */
export function redirect(h: HookHost, attempt: number, req: RedirectRequest): void {
  const prev = h.attempts.options(req.from) ?? (h.setup.configure ? undefined : h.setup.initial);
  if (!prev) {
    native.config(h.id, attempt, null, undefined, `no options known for attempt ${req.from}`, 'ERR_CONFIG');
    return;
  }
  let next: ResolvedOptions;
  try {
    next = redirectOptions(prev, req, h.setup.user, h.setup.initial.maxRedirects);
  } catch (e) {
    const refused = e instanceof WebSocketError ? e : new WebSocketError('ERR_INVALID_REDIRECT', messageOf(e), { url: prev.url.href, cause: e });
    h.attempts.remember(attempt, { options: prev, refused });
    native.config(h.id, attempt, null, undefined, refused.message, refused.code);
    return;
  }
  h.attempts.remember(attempt, { options: next });
  const crossOrigin = next.url.origin !== prev.url.origin;
  const from = new URL(prev.url.href);
  from.username = '';
  from.password = '';
  const info: RedirectInfo = { from: from.href, to: next.url.href, status: req.status, crossOrigin };
  native.config(h.id, attempt, { ...next.native }, next.trust, '');
  h.redirected(info);
}

/**
 * The lookup option resolves the host of one attempt. Called as net calls
 * it ({ family, hints, all }); answers with every address (all: true) or
 * one (address, family). An error, a throw or nothing usable fails the
 * attempt (cause 'dns'); no answer at all runs into handshakeTimeout; a
 * second or late answer is ignored.
 */
export function lookup(h: HookHost, attempt: number, req: { host: string; family: number; all: boolean }): void {
  const fn = h.setup.user.lookup as NonNullable<ConnectOptions['lookup']>;
  let answered = false;
  const fail = (code: string, message: string): void => native.resolved(h.id, attempt, null, `${code}\n${message}`);
  const callback = (err: NodeJS.ErrnoException | null, address?: unknown, family?: unknown): void => {
    if (answered) return;
    answered = true;
    if (err) {
      // A resolver's own codes pass through; anything else is ERR_LOOKUP
      // (its code stays in the message), so `code` keeps to ErrorCode.
      const given = typeof err.code === 'string' ? err.code : '';
      const code = LOOKUP_CODES.has(given) ? given : 'ERR_LOOKUP';
      const text = messageOf(err).replace(/[\r\n]+/g, ' ').slice(0, 500);
      fail(code, `lookup of ${req.host} failed: ${given && code !== given ? `${given}: ` : ''}${text}`);
      return;
    }
    const given: unknown[] = Array.isArray(address) ? address : [{ address, family }];
    const addresses: string[] = [];
    for (const a of given.slice(0, 64)) {
      const ip = typeof a === 'string' ? a : typeof a === 'object' && a !== null ? (a as { address?: unknown }).address : undefined;
      if (typeof ip === 'string' && isIP(ip) !== 0) addresses.push(ip);
    }
    if (addresses.length === 0) {
      fail('ERR_INVALID_IP_ADDRESS', `lookup of ${req.host} gave no IP address`);
      return;
    }
    native.resolved(h.id, attempt, addresses, '');
  };
  try {
    fn(req.host, { family: req.family, hints: req.family ? 0 : ADDRCONFIG, all: req.all }, callback as Parameters<typeof fn>[2]);
  } catch (e) {
    callback(e as NodeJS.ErrnoException);
  }
}

export function decide(h: HookHost, info: ReconnectInfo): void {
  const fn = h.setup.user.shouldReconnect;
  if (!fn) {
    native.decision(h.id, info.action !== 'give-up', -1);
    return;
  }
  Promise.resolve()
    .then(() => fn(info))
    .then(
      (answer) => {
        if (typeof answer === 'object' && answer !== null && typeof answer.delayMs === 'number' && answer.delayMs >= 0) {
          native.decision(h.id, true, answer.delayMs);
        } else {
          native.decision(h.id, answer === true, -1);
        }
      },
      (e: unknown) => {
        h.failed(new WebSocketError('ERR_SHOULD_RECONNECT', `shouldReconnect threw: ${messageOf(e)}`, { url: h.url(), cause: e }));
        native.decision(h.id, false, -1);
      },
    );
}

export function runOnOpen(h: HookHost, attempt: number, info: OpenPayload): void {
  const fn = h.setup.user.onOpen;
  if (!fn) {
    native.onOpenDone(h.id, attempt, '');
    return;
  }
  const session: OpenSession = {
    send: (data, options = {}) => {
      const { payload, binary, size } = messagePayload(data, options);
      h.queued(size);
      native.sendPriority(h.id, attempt, payload, binary);
    },
    protocol: info.protocol ?? '',
    extensions: info.extensions ?? '',
    headers: info.headers ?? {},
    reconnected: info.reconnected ?? false,
    reason: info.reason ?? 'open',
  };
  // Called now, within this batch: listeners it adds see the messages
  // that arrived with the open. Bounded by configTimeoutMs.
  let result: unknown;
  try {
    result = fn(session);
  } catch (e) {
    native.onOpenDone(h.id, attempt, messageOf(e) || 'onOpen failed');
    return;
  }
  withTimeout(Promise.resolve(result), h.setup.configTimeoutMs, 'onOpen').then(
    () => native.onOpenDone(h.id, attempt, ''),
    (e: unknown) => native.onOpenDone(h.id, attempt, messageOf(e) || 'onOpen failed'),
  );
}
