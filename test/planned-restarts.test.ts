/**
 * Close codes a server uses to plan (RFC 6455 7.4.1, IANA registry):
 *   1012 service restart  every client of the server lost its connection at
 *                         once: each reconnects after a draw over the whole
 *                         first window (full jitter), whatever `jitter` says;
 *   1013 try again later  climbs the backoff like a 503: the attempt counter
 *                         goes on from where the connection found it, even
 *                         after an uptime that would reset it;
 *   1001 going away       an ordinary loss: reconnects with the usual backoff.
 */
import { describe, expect, it } from 'vitest';
import { connect, type ConnectOptions, type ReconnectingInfo, type WebSocketClient } from './lib';
import { startFaultServer, type FaultServer } from './helpers/fault-server';
import { AsyncQueue } from './helpers/queue';
import { endAfterEach, waitFor } from './helpers/wait';

const T = 5000;
const { clients, servers } = endAfterEach<WebSocketClient, FaultServer>({ closeTimeoutMs: T });

async function faultServer(): Promise<FaultServer> {
  const s = await startFaultServer();
  servers.push(s);
  return s;
}

function session(url: string, options: ConnectOptions) {
  const c = connect(url, { heartbeat: false, ...options });
  clients.push(c);
  const opens = new AsyncQueue<unknown>("'open'");
  const reconnecting = new AsyncQueue<ReconnectingInfo>("'reconnecting'");
  const disconnects = new AsyncQueue<{ code: number; cause: string }>("'disconnect'");
  c.on('open', (o) => opens.push(o));
  c.on('reconnecting', (r) => reconnecting.push(r));
  c.on('disconnect', (d) => disconnects.push(d));
  return { c, opens, reconnecting, disconnects };
}

describe('1012 service restart', () => {
  it('spreads the reconnects of clients dropped together over the first window, even with additive jitter of 0 %', async () => {
    const s = await faultServer();
    const n = 20;
    const sessions = Array.from({ length: n }, () => session(s.url, { reconnect: { backoffMs: [1000], jitterPercent: 0 } }));
    await Promise.all(sessions.map((x) => x.opens.next(T)));
    await waitFor(() => s.connections.length >= n, T, { label: `${n} connections` });
    for (const conn of s.connections) conn.ws.close(1012, 'restarting');
    const delays: number[] = [];
    for (const x of sessions) {
      expect(await x.disconnects.next(T)).toMatchObject({ code: 1012, cause: 'close' });
      const r = await x.reconnecting.next(T);
      expect(r.attempt).toBe(1);
      delays.push(r.delayMs);
    }
    for (const d of delays) {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(1000);
    }
    // Uniform over 1 s: 20 draws all within 100 ms of each other would be a
    // 2e-18 chance. Without the spread every one of them waits exactly 1000.
    expect(Math.max(...delays) - Math.min(...delays)).toBeGreaterThan(100);
    await Promise.all(sessions.map((x) => x.opens.next(T)));
  });
});

describe('1013 try again later', () => {
  /** Open, stay up past resetAfterMs, then the server closes with `code`: the next attempt's number. */
  async function cycle(s: FaultServer, x: ReturnType<typeof session>, code: number): Promise<number> {
    await x.opens.next(T);
    const conn = s.connections[s.connections.length - 1]!;
    await waitFor(() => x.c.stats().currentUptimeMs >= 250, T, { label: 'uptime past resetAfterMs' });
    conn.ws.close(code);
    expect(await x.disconnects.next(T)).toMatchObject({ code });
    return (await x.reconnecting.next(T)).attempt;
  }

  it('climbs the backoff like a 503, although the connection stayed up past resetAfterMs', async () => {
    const s = await faultServer();
    const x = session(s.url, { reconnect: { backoffMs: [20, 40, 80, 160], jitterPercent: 0, resetAfterMs: 100 } });
    const attempts = [await cycle(s, x, 1013), await cycle(s, x, 1013), await cycle(s, x, 1013)];
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('other codes start over after resetAfterMs (the contrast)', async () => {
    const s = await faultServer();
    const x = session(s.url, { reconnect: { backoffMs: [20, 40, 80, 160], jitterPercent: 0, resetAfterMs: 100 } });
    expect([await cycle(s, x, 1011), await cycle(s, x, 1011)]).toEqual([1, 1]);
  });
});

describe('1001 going away', () => {
  it('is an ordinary loss: reported with its code, then the usual backoff and a reconnect', async () => {
    const s = await faultServer();
    const x = session(s.url, { reconnect: { backoffMs: [50, 100] } });
    await x.opens.next(T);
    await waitFor(() => s.connections.length >= 1, T);
    s.connections[0]!.ws.close(1001, 'shutting down');
    expect(await x.disconnects.next(T)).toMatchObject({ code: 1001, cause: 'close' });
    const r = await x.reconnecting.next(T);
    expect(r.attempt).toBe(1);
    expect(r.delayMs).toBeLessThanOrEqual(50);
    await x.opens.next(T);
  });
});
