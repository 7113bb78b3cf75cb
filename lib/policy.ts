// The persistence options as plain code: defaults, validation, and the
// mapping of an lws Secure Streams retry policy onto them. The native
// session executes the result; nothing here touches the addon.
import { rangeError, typeError } from './errors';
import type { ConnectOptions } from './options';

import { JITTER_MODES, OVERFLOW_POLICIES, wireNumber, type JitterMode, type OverflowPolicy } from './wire';

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
  maxAgeMs: number;
  maxAgeJitterPercent: number;
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

/**
 * The default schedule, upper bounds of full-jitter draws. A server that
 * drops every client at once (a restart) sees them come back spread
 * uniformly over the first 1.8 s: a median of 0.9 s, and about 5.6 % of
 * them in any 100 ms (bench/herd.js measures it: README, persistence).
 * The means (0.9, 1.8, 3.6, 7.5, 15, 30 s) keep a long outage's retry rate
 * near the former schedule's (500 ms to 30 s plus 0-30 %).
 */
export const DEFAULT_BACKOFF_MS = [1800, 3600, 7200, 15000, 30000, 60000] as const;
const MAX_MS = 2 ** 31 - 1;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError('ERR_INVALID_OPTION', `${name} must be an integer`);
  if (v < min || v > max) throw rangeError('ERR_OUT_OF_RANGE', `${name} must be in [${min}, ${max}], got ${v}`);
  return v;
}

function flag(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw typeError('ERR_INVALID_OPTION', `${name} must be a boolean`);
  return v;
}

function only(o: Record<string, unknown>, name: string, keys: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw typeError('ERR_INVALID_OPTION', `unknown option: ${name}.${k}`);
  }
}

/**
 * Accepts a Secure Streams policy (JSON text or object) with a `retry`
 * array, or one retry entry, and returns that entry.
 */
export function lwsRetryEntry(policy: unknown): LwsRetryPolicy {
  let p: unknown = policy;
  if (typeof p === 'string') {
    try {
      p = JSON.parse(p);
    } catch (cause) {
      const e = typeError('ERR_INVALID_OPTION', 'policy: not valid JSON');
      (e as Error & { cause?: unknown }).cause = cause;
      throw e;
    }
  }
  if (!isObject(p)) throw typeError('ERR_INVALID_OPTION', 'policy must be an object or JSON text');
  if (Array.isArray(p.retry)) {
    // [{ "name": { backoff, conceal, ... } }, ...]: the first entry.
    const first = p.retry[0] as unknown;
    if (!isObject(first)) throw typeError('ERR_INVALID_OPTION', 'policy.retry is empty');
    const inner = Object.values(first)[0];
    if (!isObject(inner)) throw typeError('ERR_INVALID_OPTION', 'policy.retry[0] has no entry');
    p = inner;
  }
  const e = p as Record<string, unknown>;
  only(e, 'policy', ['backoff', 'conceal', 'jitterpc', 'svalidping', 'svalidhup']);
  const out: LwsRetryPolicy = {};
  if (e.backoff !== undefined) {
    if (!Array.isArray(e.backoff) || e.backoff.length === 0) throw typeError('ERR_INVALID_OPTION', 'policy.backoff must be a non-empty array');
    out.backoff = e.backoff.map((x, i) => num(x, `policy.backoff[${i}]`, 0, 0, MAX_MS));
  }
  if (e.conceal !== undefined) out.conceal = num(e.conceal, 'policy.conceal', 0, 0, 65535);
  if (e.jitterpc !== undefined) out.jitterpc = num(e.jitterpc, 'policy.jitterpc', 0, 0, 100);
  if (e.svalidping !== undefined) out.svalidping = num(e.svalidping, 'policy.svalidping', 0, 0, 65535);
  if (e.svalidhup !== undefined) out.svalidhup = num(e.svalidhup, 'policy.svalidhup', 0, 0, 65535);
  return out;
}

/** The lws retry entry as our options (explicit options win over it). */
export function fromLwsRetry(r: LwsRetryPolicy): { reconnect: ReconnectOptions | false; heartbeat?: HeartbeatOptions | false } {
  const reconnect: ReconnectOptions = {};
  if (r.backoff) reconnect.backoffMs = r.backoff;
  // lws: conceal 65535 (LWS_RETRY_CONCEAL_ALWAYS) retries forever; 0 hides
  // no failure at all, i.e. no retry.
  if (r.conceal !== undefined && r.conceal > 0) reconnect.maxAttempts = r.conceal === 65535 ? 0 : r.conceal;
  // lws's retry helper adds its jitter to the table's delay (jitterpc 0
  // reads as its default, 30 %).
  reconnect.jitter = 'add';
  if (r.jitterpc !== undefined) reconnect.jitterPercent = r.jitterpc === 0 ? 30 : r.jitterpc;
  const out: { reconnect: ReconnectOptions | false; heartbeat?: HeartbeatOptions | false } = {
    reconnect: r.conceal === 0 ? false : reconnect,
  };
  if (r.svalidhup !== undefined || r.svalidping !== undefined) {
    const hup = r.svalidhup ?? 0;
    const ping = r.svalidping ?? 0;
    if (hup === 0) {
      out.heartbeat = false; // lws: no hangup, no keepalive
    } else if (ping > 0 && ping < hup) {
      out.heartbeat = { intervalMs: ping * 1000, timeoutMs: (hup - ping) * 1000 };
    } else {
      // lws: ping >= hangup is a pure idle hangup. The closest we have: ping
      // one second before the hangup, allow that second for the answer.
      out.heartbeat = { intervalMs: Math.max(1, hup - 1) * 1000, timeoutMs: 1000 };
    }
  }
  return out;
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

export function resolvePolicy(o: PolicyInput): ResolvedPolicy {
  const fromLws = o.policy === undefined ? undefined : fromLwsRetry(lwsRetryEntry(o.policy));

  let reconnectOn = fromLws?.reconnect !== false;
  let r: Record<string, unknown> = { ...(fromLws?.reconnect || {}) };
  if (o.reconnect === false) reconnectOn = false;
  else if (o.reconnect === true) reconnectOn = true;
  else if (isObject(o.reconnect)) {
    reconnectOn = true;
    r = { ...r, ...o.reconnect };
  } else if (o.reconnect !== undefined) throw typeError('ERR_INVALID_OPTION', 'reconnect must be a boolean or an object');
  only(r, 'reconnect', ['backoffMs', 'jitter', 'jitterPercent', 'maxRetryAfterMs', 'maxAttempts', 'resetAfterMs', 'onNormalClose']);
  const jitter = r.jitter ?? (r.jitterPercent !== undefined ? 'add' : 'full');
  if (!(JITTER_MODES as readonly unknown[]).includes(jitter)) throw typeError('ERR_INVALID_OPTION', `reconnect.jitter must be 'full' or 'add'`);
  let backoff: number[] = [...DEFAULT_BACKOFF_MS];
  if (r.backoffMs !== undefined) {
    if (!Array.isArray(r.backoffMs) || r.backoffMs.length === 0 || r.backoffMs.length > 64) {
      throw typeError('ERR_INVALID_OPTION', 'reconnect.backoffMs must be an array of 1 to 64 delays');
    }
    backoff = r.backoffMs.map((x, i) => num(x, `reconnect.backoffMs[${i}]`, 0, 0, MAX_MS));
  }

  let hbOn = true;
  let h: Record<string, unknown> = {};
  if (fromLws?.heartbeat === false) hbOn = false;
  else if (fromLws?.heartbeat) h = { ...fromLws.heartbeat };
  if (o.heartbeat === false) hbOn = false;
  else if (o.heartbeat === true) hbOn = true;
  else if (isObject(o.heartbeat)) {
    hbOn = true;
    h = { ...h, ...o.heartbeat };
  } else if (o.heartbeat !== undefined) throw typeError('ERR_INVALID_OPTION', 'heartbeat must be a boolean or an object');
  only(h, 'heartbeat', ['intervalMs', 'timeoutMs', 'pongOnly']);

  const q: Record<string, unknown> = o.queue === undefined ? {} : isObject(o.queue) ? o.queue : (() => {
    throw typeError('ERR_INVALID_OPTION', 'queue must be an object');
  })();
  only(q, 'queue', ['maxMessages', 'maxBytes', 'ttlMs', 'overflow']);
  const overflow = (q.overflow ?? 'reject') as OverflowPolicy;
  if (!OVERFLOW_POLICIES.includes(overflow)) {
    throw typeError('ERR_INVALID_OPTION', `queue.overflow must be 'reject', 'drop-oldest' or 'drop-newest'`);
  }
  const queueMaxMessages = num(q.maxMessages, 'queue.maxMessages', 1000, 0, 2 ** 32 - 1);
  const queueMaxBytes = num(q.maxBytes, 'queue.maxBytes', 16 * 1024 * 1024, 0, 2 ** 53 - 1);

  const native: NativePolicy = {
    reconnect: reconnectOn,
    backoffMs: backoff,
    jitter: wireNumber(JITTER_MODES, jitter as JitterMode),
    jitterPercent: num(r.jitterPercent, 'reconnect.jitterPercent', 30, 0, 100),
    maxRetryAfterMs: num(r.maxRetryAfterMs, 'reconnect.maxRetryAfterMs', 3_600_000, 0, MAX_MS),
    maxAttempts: num(r.maxAttempts, 'reconnect.maxAttempts', 0, 0, 65534),
    resetAfterMs: num(r.resetAfterMs, 'reconnect.resetAfterMs', 30000, 0, MAX_MS),
    reconnectOnNormalClose: flag(r.onNormalClose, 'reconnect.onNormalClose', true),
    heartbeatIntervalMs: hbOn ? num(h.intervalMs, 'heartbeat.intervalMs', 30000, 1, MAX_MS) : 0,
    heartbeatTimeoutMs: hbOn ? num(h.timeoutMs, 'heartbeat.timeoutMs', 10000, 1, MAX_MS) : 0,
    pongOnly: flag(h.pongOnly, 'heartbeat.pongOnly', false),
    stallTimeoutMs: num(o.stallTimeoutMs, 'stallTimeoutMs', 0, 0, MAX_MS),
    maxAgeMs: num(o.maxConnectionAgeMs, 'maxConnectionAgeMs', 0, 0, MAX_MS),
    maxAgeJitterPercent: num(o.maxConnectionAgeJitterPercent, 'maxConnectionAgeJitterPercent', 10, 0, 100),
    rotationOverlapMs: num(o.rotationOverlapMs, 'rotationOverlapMs', 1000, 0, MAX_MS),
    queueMaxMessages,
    queueMaxBytes,
    queueTtlMs: num(q.ttlMs, 'queue.ttlMs', 0, 0, MAX_MS),
    overflow: wireNumber(OVERFLOW_POLICIES, overflow),
    hookConfig: o.hookConfig,
    hookDecide: o.hookDecide,
    hookOnOpen: o.hookOnOpen,
    proxyRefresh: o.proxyRefresh ?? false,
    hookLookup: o.hookLookup ?? false,
  };
  return { native, overflow, queueMaxMessages, queueMaxBytes };
}
