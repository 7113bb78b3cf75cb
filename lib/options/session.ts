// The persistence options (reconnect, heartbeat, stall, rotation, queue)
// validated into the NativePolicy record the native session executes.
import { typeError } from '../errors';
import { JITTER_MODES, OVERFLOW_POLICIES, wireNumber, type JitterMode, type OverflowPolicy } from '../wire';
import { bool, integer, isObject, MAX_MS, MAX_SAFE_BYTES, only } from './checks';
import { DEFAULTS } from './defaults';
import { fromLwsRetry, lwsRetryEntry } from './lws-retry';
import type { NativePolicy, PolicyInput, ResolvedPolicy } from './types';

/**
 * A section that is on/off or an object of settings (reconnect, heartbeat):
 * the lws policy's (if any) as the base, the user's option over it.
 */
function section(name: string, base: false | object | undefined, given: unknown): { on: boolean; values: Record<string, unknown> } {
  let on = base !== false;
  let values: Record<string, unknown> = { ...(base || {}) };
  if (given === false) on = false;
  else if (given === true) on = true;
  else if (isObject(given)) {
    on = true;
    values = { ...values, ...given };
  } else if (given !== undefined) throw typeError('ERR_INVALID_OPTION', `${name} must be a boolean or an object`);
  return { on, values };
}

export function resolvePolicy(o: PolicyInput): ResolvedPolicy {
  const fromLws = o.policy === undefined ? undefined : fromLwsRetry(lwsRetryEntry(o.policy));

  const { on: reconnectOn, values: r } = section('reconnect', fromLws?.reconnect, o.reconnect);
  only(r, 'reconnect', ['backoffMs', 'jitter', 'jitterPercent', 'maxRetryAfterMs', 'maxAttempts', 'resetAfterMs', 'onNormalClose']);
  const R = DEFAULTS.reconnect;
  const jitter = r.jitter ?? (r.jitterPercent !== undefined ? 'add' : R.jitter);
  if (!(JITTER_MODES as readonly unknown[]).includes(jitter)) throw typeError('ERR_INVALID_OPTION', `reconnect.jitter must be 'full' or 'add'`);
  let backoff: number[] = [...R.backoffMs];
  if (r.backoffMs !== undefined) {
    if (!Array.isArray(r.backoffMs) || r.backoffMs.length === 0 || r.backoffMs.length > 64) {
      throw typeError('ERR_INVALID_OPTION', 'reconnect.backoffMs must be an array of 1 to 64 delays');
    }
    backoff = r.backoffMs.map((x, i) => integer(x, `reconnect.backoffMs[${i}]`, 0, 0, MAX_MS));
  }

  const { on: hbOn, values: h } = section('heartbeat', fromLws?.heartbeat, o.heartbeat);
  only(h, 'heartbeat', ['intervalMs', 'timeoutMs', 'pongOnly']);

  const q: Record<string, unknown> = o.queue === undefined ? {} : isObject(o.queue) ? o.queue : (() => {
    throw typeError('ERR_INVALID_OPTION', 'queue must be an object');
  })();
  only(q, 'queue', ['maxMessages', 'maxBytes', 'ttlMs', 'overflow']);
  const Q = DEFAULTS.queue;
  const overflow = (q.overflow ?? Q.overflow) as OverflowPolicy;
  if (!OVERFLOW_POLICIES.includes(overflow)) {
    throw typeError('ERR_INVALID_OPTION', `queue.overflow must be 'reject', 'drop-oldest' or 'drop-newest'`);
  }
  const queueMaxMessages = integer(q.maxMessages, 'queue.maxMessages', Q.maxMessages, 0, 2 ** 32 - 1);
  const queueMaxBytes = integer(q.maxBytes, 'queue.maxBytes', Q.maxBytes, 0, MAX_SAFE_BYTES);

  const H = DEFAULTS.heartbeat;
  const native: NativePolicy = {
    reconnect: reconnectOn,
    backoffMs: backoff,
    jitter: wireNumber(JITTER_MODES, jitter as JitterMode),
    jitterPercent: integer(r.jitterPercent, 'reconnect.jitterPercent', R.jitterPercent, 0, 100),
    maxRetryAfterMs: integer(r.maxRetryAfterMs, 'reconnect.maxRetryAfterMs', R.maxRetryAfterMs, 0, MAX_MS),
    maxAttempts: integer(r.maxAttempts, 'reconnect.maxAttempts', R.maxAttempts, 0, 65534),
    resetAfterMs: integer(r.resetAfterMs, 'reconnect.resetAfterMs', R.resetAfterMs, 0, MAX_MS),
    reconnectOnNormalClose: bool(r.onNormalClose, 'reconnect.onNormalClose', R.onNormalClose),
    heartbeatIntervalMs: hbOn ? integer(h.intervalMs, 'heartbeat.intervalMs', H.intervalMs, 1, MAX_MS) : 0,
    heartbeatTimeoutMs: hbOn ? integer(h.timeoutMs, 'heartbeat.timeoutMs', H.timeoutMs, 1, MAX_MS) : 0,
    pongOnly: bool(h.pongOnly, 'heartbeat.pongOnly', H.pongOnly),
    stallTimeoutMs: integer(o.stallTimeoutMs, 'stallTimeoutMs', DEFAULTS.stallTimeoutMs, 0, MAX_MS),
    maxConnectionAgeMs: integer(o.maxConnectionAgeMs, 'maxConnectionAgeMs', DEFAULTS.maxConnectionAgeMs, 0, MAX_MS),
    maxConnectionAgeJitterPercent: integer(o.maxConnectionAgeJitterPercent, 'maxConnectionAgeJitterPercent', DEFAULTS.maxConnectionAgeJitterPercent, 0, 100),
    rotationOverlapMs: integer(o.rotationOverlapMs, 'rotationOverlapMs', DEFAULTS.rotationOverlapMs, 0, MAX_MS),
    queueMaxMessages,
    queueMaxBytes,
    queueTtlMs: integer(q.ttlMs, 'queue.ttlMs', Q.ttlMs, 0, MAX_MS),
    overflow: wireNumber(OVERFLOW_POLICIES, overflow),
    hookConfig: o.hookConfig,
    hookDecide: o.hookDecide,
    hookOnOpen: o.hookOnOpen,
    proxyRefresh: o.proxyRefresh ?? false,
    hookLookup: o.hookLookup ?? false,
  };
  return { native, overflow, queueMaxMessages, queueMaxBytes };
}
