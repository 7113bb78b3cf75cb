// The reconnect policy as plain code: the native failure classifier (through
// the addon's test hook), option defaults and validation, and the mapping of
// an lws Secure Streams retry policy onto the options.
import { describe, expect, it } from 'vitest';
import { codeOf } from './helpers/thrown';
import { addon as native } from '../dist/cjs/binding.js';
import { DEFAULT_BACKOFF_MS } from '../dist/cjs/options/defaults.js';
import { fromLwsRetry, lwsRetryEntry } from '../dist/cjs/options/lws-retry.js';
import { resolvePolicy } from '../dist/cjs/options/session.js';

type Failure = {
  cause: string;
  status?: number;
  code?: number;
  retryAfter?: string;
  refreshedOnce?: boolean;
  proxyRefresh?: boolean;
  reconnectOnNormalClose?: boolean;
  nowMs?: number;
};

// A whole second: HTTP dates have second resolution.
const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);

function classify(f: Failure): { action: string; delayMs: number; reason: string } {
  const d = native.testing.classify({ nowMs: NOW, ...f });
  // Every decision explains itself.
  expect(typeof d.reason).toBe('string');
  expect(d.reason.length).toBeGreaterThan(0);
  return d;
}

const http = (status: number, extra: Partial<Failure> = {}) => classify({ cause: 'http', status, ...extra });


const INVALID = { type: 'TypeError', code: 'ERR_INVALID_OPTION' };
const RANGE = { type: 'RangeError', code: 'ERR_OUT_OF_RANGE' };

// resolvePolicy's required (hook) fields, so each test names only what it is about.
const HOOKS = { hookConfig: false, hookDecide: false, hookOnOpen: false };
const resolve = (o: Record<string, unknown> = {}) => resolvePolicy({ ...HOOKS, ...o } as Parameters<typeof resolvePolicy>[0]);

describe('classifier: the proxy refusing the tunnel', () => {
  const proxy = (status: number, extra: Partial<Failure> = {}) => classify({ cause: 'proxy', status, ...extra });

  it.each([407, 401, 403])('%i (its credentials) gives up: the same ones would be refused again', (status) => {
    expect(proxy(status)).toMatchObject({ action: 'give-up' });
    expect(proxy(status).reason).toContain(String(status));
  });

  it.each([407, 401, 403])('%i with a proxy function asks it again and retries once, then gives up', (status) => {
    expect(proxy(status, { proxyRefresh: true })).toMatchObject({ action: 'refresh-then-retry', delayMs: 0 });
    expect(proxy(status, { proxyRefresh: true, refreshedOnce: true })).toMatchObject({ action: 'give-up' });
  });

  it.each([400, 404, 405])('other 4xx (%i) give up', (status) => {
    expect(proxy(status)).toMatchObject({ action: 'give-up' });
  });

  it.each([500, 502, 503, 0])('%i backs off and retries', (status) => {
    expect(proxy(status)).toMatchObject({ action: 'retry', delayMs: -1 });
  });

  it('a proxy function changes nothing for a server\'s own 401', () => {
    expect(http(401, { proxyRefresh: true })).toMatchObject({ action: 'refresh-then-retry' });
  });
});

describe('classifier: HTTP upgrade refusals', () => {
  it.each([401, 403])('%i refreshes credentials and retries at once, then gives up', (status) => {
    expect(http(status)).toMatchObject({ action: 'refresh-then-retry', delayMs: 0 });
    expect(http(status, { refreshedOnce: true })).toMatchObject({ action: 'give-up' });
  });

  it.each([429, 503])('%i with Retry-After in seconds waits that long', (status) => {
    expect(http(status, { retryAfter: '7' })).toMatchObject({ action: 'retry-after', delayMs: 7000 });
  });

  it.each([429, 503])('%i with Retry-After as an HTTP date waits until then', (status) => {
    const retryAfter = new Date(NOW + 30000).toUTCString();
    expect(http(status, { retryAfter })).toMatchObject({ action: 'retry-after', delayMs: 30000 });
  });

  it('503 without Retry-After backs off normally', () => {
    expect(http(503)).toMatchObject({ action: 'retry', delayMs: -1 });
  });

  it.each(['soon', '7s', '-5', 'Mon, 99 Foo 2024 99:99:99 GMT'])('an unparsable Retry-After (%j) backs off normally', (retryAfter) => {
    expect(http(503, { retryAfter })).toMatchObject({ action: 'retry', delayMs: -1 });
  });

  it.each([400, 404, 410, 302])('%i gives up: retrying will not change it', (status) => {
    expect(http(status)).toMatchObject({ action: 'give-up' });
  });

  it.each([200, 204, 100])('%i gives up: a plain HTTP endpoint means a wrong URL', (status) => {
    expect(http(status)).toMatchObject({ action: 'give-up' });
    expect(http(status).reason).toMatch(/not a WebSocket endpoint/);
  });

  it.each([500, 502])('%i backs off and retries', (status) => {
    expect(http(status)).toMatchObject({ action: 'retry', delayMs: -1 });
  });
});

describe('classifier: close codes', () => {
  const fatal = [1002, 1003, 1007, 1008, 1009, 1010];
  it.each(['close', 'protocol'].flatMap((cause) => fatal.map((code) => [cause, code] as const)))(
    '%s %i gives up: the same messages would fail again',
    (cause, code) => {
      expect(classify({ cause, code })).toMatchObject({ action: 'give-up' });
    },
  );

  it('1000 reconnects unless reconnectOnNormalClose is off', () => {
    expect(classify({ cause: 'close', code: 1000 })).toMatchObject({ action: 'retry', delayMs: -1 });
    expect(classify({ cause: 'close', code: 1000, reconnectOnNormalClose: true })).toMatchObject({ action: 'retry' });
    expect(classify({ cause: 'close', code: 1000, reconnectOnNormalClose: false })).toMatchObject({ action: 'give-up' });
  });

  it.each([1001, 1006, 1011, 1012, 1013, 4000])('%i backs off and retries', (code) => {
    expect(classify({ cause: 'close', code })).toMatchObject({ action: 'retry', delayMs: -1 });
  });
});

describe('classifier: other causes', () => {
  it.each(['refused', 'network', 'dns', 'timeout', 'tls', 'handshake', 'heartbeat', 'stall', 'config'])(
    '%s backs off and retries',
    (cause) => {
      expect(classify({ cause })).toMatchObject({ action: 'retry', delayMs: -1 });
    },
  );

  it('user (close() or terminate()) gives up', () => {
    expect(classify({ cause: 'user' })).toMatchObject({ action: 'give-up' });
  });
});

describe('resolvePolicy: defaults', () => {
  it('reconnects with the documented backoff, heartbeat and queue', () => {
    const r = resolve();
    expect(r.native).toMatchObject({
      reconnect: true,
      backoffMs: [1800, 3600, 7200, 15000, 30000, 60000],
      jitter: 0,
      jitterPercent: 30,
      maxRetryAfterMs: 3_600_000,
      maxAttempts: 0,
      resetAfterMs: 30000,
      reconnectOnNormalClose: true,
      heartbeatIntervalMs: 30000,
      heartbeatTimeoutMs: 10000,
      pongOnly: false,
      stallTimeoutMs: 0,
      maxConnectionAgeMs: 0,
      queueMaxMessages: 1000,
      queueMaxBytes: 16 * 1024 * 1024,
      queueTtlMs: 0,
      overflow: 0,
    });
    expect(r.overflow).toBe('reject');
    expect(r.queueMaxMessages).toBe(1000);
    expect(r.queueMaxBytes).toBe(16 * 1024 * 1024);
    expect([...DEFAULT_BACKOFF_MS]).toEqual([1800, 3600, 7200, 15000, 30000, 60000]);
  });

  it('passes the hook flags through', () => {
    const r = resolvePolicy({ hookConfig: true, hookDecide: false, hookOnOpen: true });
    expect(r.native).toMatchObject({ hookConfig: true, hookDecide: false, hookOnOpen: true });
  });

  it('returns a backoff array of its own, not the shared default', () => {
    const a = resolve().native.backoffMs;
    a.push(1);
    expect(resolve().native.backoffMs).toEqual([...DEFAULT_BACKOFF_MS]);
  });
});

describe('resolvePolicy: switches and overrides', () => {
  it('reconnect: false turns reconnection off', () => {
    expect(resolve({ reconnect: false }).native.reconnect).toBe(false);
    expect(resolve({ reconnect: true }).native.reconnect).toBe(true);
  });

  it('heartbeat: false turns the heartbeat off (interval 0)', () => {
    const n = resolve({ heartbeat: false }).native;
    expect(n.heartbeatIntervalMs).toBe(0);
    expect(n.heartbeatTimeoutMs).toBe(0);
    expect(resolve({ heartbeat: true }).native).toMatchObject({ heartbeatIntervalMs: 30000, heartbeatTimeoutMs: 10000 });
  });

  it('takes every override, leaving the rest at their defaults', () => {
    const r = resolve({
      reconnect: { backoffMs: [100, 200], jitterPercent: 0, maxAttempts: 5, resetAfterMs: 1000, onNormalClose: false },
      heartbeat: { intervalMs: 5000, timeoutMs: 2000, pongOnly: true },
      stallTimeoutMs: 60000,
      maxConnectionAgeMs: 3600000,
      maxConnectionAgeJitterPercent: 20,
      queue: { maxMessages: 10, maxBytes: 4096, ttlMs: 15000, overflow: 'drop-oldest' },
    });
    expect(r.native).toMatchObject({
      reconnect: true,
      backoffMs: [100, 200],
      jitterPercent: 0,
      maxAttempts: 5,
      resetAfterMs: 1000,
      reconnectOnNormalClose: false,
      heartbeatIntervalMs: 5000,
      heartbeatTimeoutMs: 2000,
      pongOnly: true,
      stallTimeoutMs: 60000,
      maxConnectionAgeMs: 3600000,
      maxConnectionAgeJitterPercent: 20,
      queueMaxMessages: 10,
      queueMaxBytes: 4096,
      queueTtlMs: 15000,
      overflow: 1,
    });
    expect(r.overflow).toBe('drop-oldest');
    expect(resolve({ heartbeat: { intervalMs: 5000 } }).native).toMatchObject({ heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 10000 });
    expect(resolve({ reconnect: { maxAttempts: 3 } }).native).toMatchObject({ maxAttempts: 3, backoffMs: [...DEFAULT_BACKOFF_MS], jitter: 0, jitterPercent: 30 });
  });

  it.each([
    ['reject', 0],
    ['drop-oldest', 1],
    ['drop-newest', 2],
  ] as const)('overflow %s is native overflow %i', (overflow, n) => {
    const r = resolve({ queue: { overflow } });
    expect(r.native.overflow).toBe(n);
    expect(r.overflow).toBe(overflow);
  });
});

describe('resolvePolicy: validation', () => {
  it.each([
    ['reconnect of the wrong type', { reconnect: 'yes' }],
    ['heartbeat of the wrong type', { heartbeat: 1 }],
    ['queue of the wrong type', { queue: 'big' }],
    ['queue: null', { queue: null }],
    ['a string delay', { reconnect: { jitterPercent: '5' } }],
    ['a fractional count', { reconnect: { maxAttempts: 1.5 } }],
    ['NaN', { heartbeat: { intervalMs: NaN } }],
    ['a non-boolean flag', { reconnect: { onNormalClose: 'no' } }],
    ['a non-boolean pongOnly', { heartbeat: { pongOnly: 1 } }],
    ['an empty backoff', { reconnect: { backoffMs: [] } }],
    ['a backoff that is not an array', { reconnect: { backoffMs: 500 } }],
    ['a backoff of strings', { reconnect: { backoffMs: ['500'] } }],
    ['more than 64 delays', { reconnect: { backoffMs: new Array(65).fill(100) } }],
    ['an unknown reconnect key', { reconnect: { foo: 1 } }],
    ['an unknown heartbeat key', { heartbeat: { interval: 1000 } }],
    ['an unknown queue key', { queue: { size: 10 } }],
    ['a bad overflow string', { queue: { overflow: 'drop' } }],
    ['a non-string overflow', { queue: { overflow: 1 } }],
  ])('refuses %s with TypeError ERR_INVALID_OPTION', (_, o) => {
    expect(codeOf(() => resolve(o))).toEqual(INVALID);
  });

  it.each([
    ['a negative delay', { reconnect: { backoffMs: [500, -1] } }],
    ['a negative jitter', { reconnect: { jitterPercent: -1 } }],
    ['jitter over 100 %', { reconnect: { jitterPercent: 101 } }],
    ['negative maxAttempts', { reconnect: { maxAttempts: -1 } }],
    ['negative resetAfterMs', { reconnect: { resetAfterMs: -1 } }],
    ['a zero heartbeat interval', { heartbeat: { intervalMs: 0 } }],
    ['a negative heartbeat timeout', { heartbeat: { timeoutMs: -1 } }],
    ['a negative stall timeout', { stallTimeoutMs: -1 }],
    ['a negative max age', { maxConnectionAgeMs: -1 }],
    ['negative queue.maxMessages', { queue: { maxMessages: -1 } }],
    ['negative queue.maxBytes', { queue: { maxBytes: -1 } }],
    ['negative queue.ttlMs', { queue: { ttlMs: -1 } }],
  ])('refuses %s with RangeError ERR_OUT_OF_RANGE', (_, o) => {
    expect(codeOf(() => resolve(o))).toEqual(RANGE);
  });
});

describe('lws Secure Streams retry policy', () => {
  const FULL = '{"retry":[{"default":{"backoff":[1000,2000],"conceal":5,"jitterpc":20,"svalidping":30,"svalidhup":35}}]}';
  const ENTRY = { backoff: [1000, 2000], conceal: 5, jitterpc: 20, svalidping: 30, svalidhup: 35 };

  it('takes the first entry of a full policy as JSON text', () => {
    expect(lwsRetryEntry(FULL)).toEqual(ENTRY);
  });

  it('takes a full policy as an object, and a bare entry', () => {
    expect(lwsRetryEntry(JSON.parse(FULL))).toEqual(ENTRY);
    expect(lwsRetryEntry({ ...ENTRY })).toEqual(ENTRY);
    expect(lwsRetryEntry(JSON.stringify(ENTRY))).toEqual(ENTRY);
  });

  it('maps the entry onto reconnect and heartbeat options', () => {
    expect(fromLwsRetry(ENTRY)).toEqual({
      reconnect: { backoffMs: [1000, 2000], maxAttempts: 5, jitter: 'add', jitterPercent: 20 },
      heartbeat: { intervalMs: 30000, timeoutMs: 5000 },
    });
  });

  it('conceal 65535 (LWS_RETRY_CONCEAL_ALWAYS) retries forever', () => {
    expect(fromLwsRetry({ conceal: 65535 }).reconnect).toEqual({ maxAttempts: 0, jitter: 'add' });
  });

  it('conceal 0 (lws: hide no failure) means no reconnection', () => {
    expect(fromLwsRetry({ conceal: 0 }).reconnect).toBe(false);
    expect(resolvePolicy({ policy: { conceal: 0 }, hookConfig: false, hookDecide: false, hookOnOpen: false }).native.reconnect).toBe(false);
  });

  it('jitterpc 0 is lws\'s default jitter, 30 %', () => {
    expect(fromLwsRetry({ jitterpc: 0 }).reconnect).toEqual({ jitter: 'add', jitterPercent: 30 });
  });

  it('svalidhup 0 turns the heartbeat off', () => {
    expect(fromLwsRetry({ svalidping: 30, svalidhup: 0 }).heartbeat).toBe(false);
  });

  it('svalidping >= svalidhup pings a second before the hangup', () => {
    expect(fromLwsRetry({ svalidping: 40, svalidhup: 35 }).heartbeat).toEqual({ intervalMs: 34000, timeoutMs: 1000 });
    expect(fromLwsRetry({ svalidping: 35, svalidhup: 35 }).heartbeat).toEqual({ intervalMs: 34000, timeoutMs: 1000 });
  });

  it('leaves out what the entry does not set; the jitter is always lws\'s (added to the table\'s delay)', () => {
    expect(fromLwsRetry({})).toEqual({ reconnect: { jitter: 'add' } });
    expect(fromLwsRetry({ backoff: [250] })).toEqual({ reconnect: { backoffMs: [250], jitter: 'add' } });
  });

  it.each([
    ['invalid JSON', '{"retry":'],
    ['a number', 42],
    ['an array', [ENTRY]],
    ['null', null],
    ['a non-numeric backoff', { backoff: ['1000'] }],
    ['an empty backoff', { backoff: [] }],
    ['a non-numeric conceal', { conceal: '5' }],
    ['a fractional jitterpc', { jitterpc: 2.5 }],
    ['a non-numeric svalidping', { svalidping: true }],
    ['an unknown key', { backof: [1000] }],
    ['an unknown key inside a full policy', { retry: [{ default: { ...ENTRY, extra: 1 } }] }],
    ['an empty retry array', { retry: [] }],
  ])('refuses %s with TypeError ERR_INVALID_OPTION', (_, p) => {
    expect(codeOf(() => lwsRetryEntry(p))).toEqual(INVALID);
  });

  it('resolvePolicy applies the policy', () => {
    const n = resolve({ policy: FULL }).native;
    expect(n).toMatchObject({
      reconnect: true,
      backoffMs: [1000, 2000],
      maxAttempts: 5,
      jitter: 1,
      jitterPercent: 20,
      heartbeatIntervalMs: 30000,
      heartbeatTimeoutMs: 5000,
    });
    expect(resolve({ policy: { svalidhup: 0 } }).native.heartbeatIntervalMs).toBe(0);
  });

  it('explicit options win over the policy', () => {
    const n = resolve({ policy: FULL, reconnect: { jitterPercent: 5 }, heartbeat: { timeoutMs: 2000 } }).native;
    expect(n).toMatchObject({ jitterPercent: 5, backoffMs: [1000, 2000], maxAttempts: 5, heartbeatIntervalMs: 30000, heartbeatTimeoutMs: 2000 });
    expect(resolve({ policy: FULL, reconnect: false }).native.reconnect).toBe(false);
    expect(resolve({ policy: FULL, heartbeat: false }).native.heartbeatIntervalMs).toBe(0);
  });

  it('resolvePolicy reports a bad policy with TypeError ERR_INVALID_OPTION', () => {
    expect(codeOf(() => resolve({ policy: 'not json' }))).toEqual(INVALID);
    expect(codeOf(() => resolve({ policy: { conceal: 'x' } }))).toEqual(INVALID);
  });
});
