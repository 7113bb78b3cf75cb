/**
 * A server's Retry-After (429/503 to the upgrade) against the backoff
 * schedule: the delay is never shorter than the schedule's delay for that
 * attempt, so a Retry-After of 0 or a date in the past cannot turn a client
 * into a connection flood; consecutive refusals keep climbing the schedule;
 * a longer Retry-After wins up to reconnect.maxRetryAfterMs (default one
 * hour); the `reconnecting` event carries the server's value and the delay
 * used. Schedules with `jitterPercent: 0` ('add' jitter of 0 %) make every
 * delay exact.
 */
import { describe, expect, it } from 'vitest';
import { connect, type ConnectOptions, type ReconnectingInfo, type WebSocketClient } from './lib';
import { startFaultServer, type FaultServer, type UpgradeAnswer } from './helpers/fault-server';
import { AsyncQueue } from './helpers/queue';
import { endAfterEach, once } from './helpers/wait';

const T = 5000;
const { clients, servers } = endAfterEach<WebSocketClient, FaultServer>({ closeTimeoutMs: T });

function refusing(status: number, retryAfter: string): UpgradeAnswer {
  return { status, headers: { 'Retry-After': retryAfter } };
}

async function server(upgrade: (i: number) => UpgradeAnswer): Promise<FaultServer> {
  const s = await startFaultServer({ upgrade: (_req, i) => upgrade(i) });
  servers.push(s);
  return s;
}

/** The client and its 'reconnecting' events, buffered from the start. */
function session(url: string, options: ConnectOptions): { c: WebSocketClient; reconnecting: AsyncQueue<ReconnectingInfo> } {
  const c = connect(url, options);
  clients.push(c);
  c.on('error', () => undefined);
  const reconnecting = new AsyncQueue<ReconnectingInfo>("'reconnecting'");
  c.on('reconnecting', (r) => reconnecting.push(r));
  return { c, reconnecting };
}

describe('Retry-After never shortens the backoff', () => {
  it.each([
    ['0', '0'],
    ['a date in the past', 'Thu, 01 Jan 1970 00:00:00 GMT'],
  ])('503 with Retry-After %s: consecutive refusals climb the schedule (100, 200, 400, 400 ms)', async (_what, value) => {
    const s = await server(() => refusing(503, value));
    const { reconnecting } = session(s.url, { reconnect: { backoffMs: [100, 200, 400], jitterPercent: 0 } });
    const seen: ReconnectingInfo[] = [];
    for (let i = 0; i < 4; i++) seen.push(await reconnecting.next(T));
    expect(seen.map((r) => r.attempt)).toEqual([1, 2, 3, 4]);
    expect(seen.map((r) => r.delayMs)).toEqual([100, 200, 400, 400]);
    for (const r of seen) expect(r).toMatchObject({ cause: 'http', retryAfter: value, retryAfterMs: 0 });
    // And the server saw them that far apart.
    await s.nextAttempt(T);
    for (let k = 1; k < 4; k++) expect(s.attempts[k]!.at - s.attempts[k - 1]!.at).toBeGreaterThanOrEqual(seen[k - 1]!.delayMs - 20);
  });

  it('429 with Retry-After: 0 and default options: each delay is a draw from its attempt\'s window, the windows growing', async () => {
    const s = await server(() => refusing(429, '0'));
    const { reconnecting } = session(s.url, { reconnect: { backoffMs: [100, 200, 400] } });
    const windows = [100, 200, 400, 400];
    for (let i = 0; i < 4; i++) {
      const r = await reconnecting.next(T);
      expect(r).toMatchObject({ attempt: i + 1, retryAfter: '0', retryAfterMs: 0 });
      expect(r.delayMs).toBeGreaterThanOrEqual(0);
      expect(r.delayMs).toBeLessThanOrEqual(windows[i]!);
    }
  });
});

describe('a longer Retry-After wins, up to maxRetryAfterMs', () => {
  it('waits the server\'s 1 s instead of the schedule\'s 100 ms, and says both', async () => {
    const s = await server((i) => (i === 0 ? refusing(503, '1') : 'accept'));
    const { c, reconnecting } = session(s.url, { reconnect: { backoffMs: [100], jitterPercent: 0 } });
    const r = await reconnecting.next(T);
    expect(r).toMatchObject({ attempt: 1, delayMs: 1000, retryAfter: '1', retryAfterMs: 1000 });
    await once(c, 'open', T);
    expect(s.attempts[1]!.at - s.attempts[0]!.at).toBeGreaterThanOrEqual(980);
  });

  it.each([
    ['999999 seconds', '999999', 999_999_000],
    ['a date in the year 9999', 'Fri, 31 Dec 9999 23:59:59 GMT', undefined],
  ])('caps %s at maxRetryAfterMs', async (_what, value, asked) => {
    const s = await server((i) => (i === 0 ? refusing(503, value) : 'accept'));
    const { c, reconnecting } = session(s.url, { reconnect: { backoffMs: [50], jitterPercent: 0, maxRetryAfterMs: 300 } });
    const r = await reconnecting.next(T);
    expect(r.delayMs).toBe(300);
    expect(r.retryAfter).toBe(value);
    if (asked !== undefined) expect(r.retryAfterMs).toBe(asked);
    else expect(r.retryAfterMs).toBe(1000 * 3600 * 24 * 365 * 100); // read as "a century" at most
    await once(c, 'open', T);
  });

  it('caps at one hour by default', async () => {
    const s = await server(() => refusing(503, '999999'));
    const { reconnecting } = session(s.url, { reconnect: { backoffMs: [50], jitterPercent: 0 } });
    expect(await reconnecting.next(T)).toMatchObject({ delayMs: 3_600_000, retryAfterMs: 999_999_000 });
  });

  it('a malformed Retry-After is reported as sent and ignored: the schedule applies', async () => {
    const s = await server((i) => (i === 0 ? refusing(503, 'soon') : 'accept'));
    const { c, reconnecting } = session(s.url, { reconnect: { backoffMs: [50], jitterPercent: 0 } });
    const r = await reconnecting.next(T);
    expect(r).toMatchObject({ delayMs: 50, retryAfter: 'soon' });
    expect(r.retryAfterMs).toBeUndefined();
    await once(c, 'open', T);
  });

  it('rejects a maxRetryAfterMs that is not a non-negative integer', () => {
    expect(() => connect('ws://127.0.0.1:9/', { reconnect: { maxRetryAfterMs: -1 } })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => connect('ws://127.0.0.1:9/', { reconnect: { maxRetryAfterMs: 1.5 } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    expect(() => connect('ws://127.0.0.1:9/', { reconnect: { jitter: 'none' as 'full' } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });
});
