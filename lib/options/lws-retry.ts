// The retry section of an lws Secure Streams policy, read and mapped onto
// our reconnect and heartbeat options (explicit options win over it).
import { typeError } from '../errors';
import { integer, isObject, MAX_MS, only } from './checks';
import type { HeartbeatOptions, LwsRetryPolicy, ReconnectOptions } from './types';

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
    out.backoff = e.backoff.map((x, i) => integer(x, `policy.backoff[${i}]`, 0, 0, MAX_MS));
  }
  if (e.conceal !== undefined) out.conceal = integer(e.conceal, 'policy.conceal', 0, 0, 65535);
  if (e.jitterpc !== undefined) out.jitterpc = integer(e.jitterpc, 'policy.jitterpc', 0, 0, 100);
  if (e.svalidping !== undefined) out.svalidping = integer(e.svalidping, 'policy.svalidping', 0, 0, 65535);
  if (e.svalidhup !== undefined) out.svalidhup = integer(e.svalidhup, 'policy.svalidhup', 0, 0, 65535);
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
