/**
 * The session engine against a server that fails on purpose: heartbeat and
 * proof of life, reconnection after the listener dies, the backoff schedule
 * and its bounds, the failure classifier (fatal close codes and statuses,
 * 401 refresh, 503 Retry-After), handshake timeout, stall watchdog,
 * shouldReconnect, url/headers functions, and the stats they leave.
 *
 * Timings are short (tens to hundreds of ms). Nothing sleeps: every wait is
 * an event or a bounded poll, and a wait that must time out is the assertion.
 */
import { describe, expect, it } from 'vitest';
import { connect, type ConnectOptions, type ReconnectInfo, type WebSocketClient, type WebSocketClientEvents } from './lib';
import {
  freePort,
  requireHeader,
  startFaultServer,
  startTcpServer,
  unavailable,
  type FaultServer,
  type TcpServer,
} from './helpers/fault-server';
import { AsyncQueue } from './helpers/queue';
import { endAfterEach, TimeoutError, waitFor, withTimeout } from './helpers/wait';

const T = 5000;
/** A retry of a few ms must have happened within this (loopback, nothing else to wait for). */
const RETRY_SLACK = 1000;

type EventName = keyof WebSocketClientEvents;
const EVENTS: EventName[] = [
  'open', 'message', 'close', 'error', 'state', 'disconnect', 'reconnecting', 'giveup', 'gap', 'stall', 'rotate', 'drop',
];

/**
 * Every event of a client, buffered from the start: a batch from the native
 * side emits several events in one go, so awaiting them one by one with
 * once() would miss the later ones.
 */
class Recorder {
  readonly log: Array<{ name: EventName; args: unknown[]; at: number }> = [];
  readonly #queues = new Map<EventName, AsyncQueue<unknown[]>>();

  constructor(client: WebSocketClient) {
    for (const name of EVENTS) {
      client.on(name, (...args: unknown[]) => {
        this.log.push({ name, args, at: Date.now() });
        this.#queue(name).push(args);
      });
    }
  }

  #queue(name: EventName): AsyncQueue<unknown[]> {
    let q = this.#queues.get(name);
    if (!q) {
      q = new AsyncQueue<unknown[]>(`client event '${name}'`);
      this.#queues.set(name, q);
    }
    return q;
  }

  /** The next `name` event not yet taken (including ones already emitted). */
  async next<E extends EventName>(name: E, timeoutMs = T): Promise<WebSocketClientEvents[E]> {
    return (await this.#queue(name).next(timeoutMs)) as WebSocketClientEvents[E];
  }

  /** Every `name` event so far (taken or not). */
  all<E extends EventName>(name: E): Array<WebSocketClientEvents[E]> {
    return this.log.filter((e) => e.name === name).map((e) => e.args as WebSocketClientEvents[E]);
  }

  /** The event names in order, without messages and state changes. */
  sequence(): string[] {
    return this.log.filter((e) => e.name !== 'message' && e.name !== 'state' && e.name !== 'error').map((e) => e.name);
  }
}

const { clients, servers } = endAfterEach<WebSocketClient, FaultServer | TcpServer>({ closeTimeoutMs: T });

function open(url: Parameters<typeof connect>[0], options: ConnectOptions = {}): { c: WebSocketClient; ev: Recorder } {
  const c = connect(url, options);
  clients.push(c);
  return { c, ev: new Recorder(c) };
}

async function faultServer(options: Parameters<typeof startFaultServer>[0] = {}): Promise<FaultServer> {
  const s = await startFaultServer(options);
  servers.push(s);
  return s;
}

async function tcpServer(mode: 'hang' | 'destroy'): Promise<TcpServer> {
  const s = await startTcpServer(mode);
  servers.push(s);
  return s;
}

/** Resolves true when `p` times out, false when it settles: for "this must not happen". */
async function staysQuiet(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return false;
  } catch (e) {
    if (e instanceof TimeoutError) return true;
    throw e;
  }
}

describe('heartbeat', () => {
  it('detects a black-holed connection within the heartbeat bounds, then reconnects', async () => {
    const server = await faultServer();
    const { ev } = open(server.url, { heartbeat: { intervalMs: 300, timeoutMs: 300 }, reconnect: { backoffMs: [50] } });
    const conn = await server.nextConnection(T);
    const [first] = await ev.next('open');
    expect(first.reconnected).toBe(false);

    const blackHoleAt = Date.now();
    conn.blackHole();
    const [d] = await ev.next('disconnect', 300 + 300 + 2000);
    expect(d.cause).toBe('heartbeat');
    expect(d.code).toBe(1006);
    const detectedAfter = d.at - blackHoleAt;
    // No earlier than the ping timeout, no later than interval + timeout (+1 s of slack).
    expect(detectedAfter).toBeGreaterThanOrEqual(300 - 10);
    expect(detectedAfter).toBeLessThanOrEqual(300 + 300 + 1000);

    const [again] = await ev.next('open');
    expect(again.reconnected).toBe(true);
    expect(server.attempts).toHaveLength(2);
  });

  it('measures the round-trip time of its pings on a healthy connection', async () => {
    const server = await faultServer();
    const { c, ev } = open(server.url, { heartbeat: { intervalMs: 100, timeoutMs: 1000 } });
    await ev.next('open');
    await waitFor(() => c.stats().rtt.samples >= 2, 3000, { label: 'two heartbeat round trips' });
    const { rtt } = c.stats();
    expect(rtt.samples).toBeGreaterThanOrEqual(2);
    expect(rtt.lastMs).toBeGreaterThanOrEqual(0);
    expect(rtt.lastMs).toBeLessThan(1000);
    expect(rtt.avgMs).toBeGreaterThanOrEqual(0);
    expect(rtt.maxMs).toBeGreaterThanOrEqual(rtt.lastMs as number);
    expect(ev.all('disconnect')).toHaveLength(0);
  });

  it('pings intervalMs after the last proof of life, even when timeoutMs is longer', async () => {
    const server = await faultServer();
    const { ev } = open(server.url, { heartbeat: { intervalMs: 100, timeoutMs: 1000 } });
    const conn = await server.nextConnection(T);
    const pings: number[] = [];
    conn.ws.on('ping', () => pings.push(Date.now()));
    await ev.next('open');
    await waitFor(() => pings.length >= 4, T, { label: 'four pings' });
    // Each pong comes back at once on loopback: the next ping is due intervalMs later.
    for (let i = 1; i < pings.length; i++) {
      const gap = pings[i]! - pings[i - 1]!;
      expect(gap).toBeGreaterThanOrEqual(100 - 20);
      expect(gap).toBeLessThan(100 + 400);
    }
  });

  it('counts incoming data as proof of life: a server that never answers pings keeps the connection', async () => {
    // The server never answers pings but sends a message every 50 ms.
    const server = await faultServer({ autoPong: false, feedIntervalMs: 50 });
    const { c, ev } = open(server.url, { heartbeat: { intervalMs: 300, timeoutMs: 300 }, reconnect: { backoffMs: [50] } });
    await ev.next('open');
    const before = c.stats().messagesIn;
    // 2.6 s is more than four times interval + timeout.
    expect(await staysQuiet(ev.next('disconnect', 2600))).toBe(true);
    expect(c.stats().messagesIn - before).toBeGreaterThanOrEqual(10);
    expect(server.attempts).toHaveLength(1);
  });

  it('with pongOnly, only pongs prove life: the same server is dropped for heartbeat', async () => {
    const server = await faultServer({ autoPong: false, feedIntervalMs: 50 });
    const { ev } = open(server.url, {
      heartbeat: { intervalMs: 300, timeoutMs: 300, pongOnly: true },
      reconnect: { backoffMs: [50] },
    });
    const conn = await server.nextConnection(T);
    let pings = 0;
    conn.ws.on('ping', () => pings++);
    await ev.next('open');
    const openedAt = Date.now();
    const [d] = await ev.next('disconnect', 300 + 300 + 3000);
    expect(d.cause).toBe('heartbeat');
    expect(d.at - openedAt).toBeGreaterThanOrEqual(300 + 300 - 10);
    expect(d.at - openedAt).toBeLessThanOrEqual(300 + 300 + 1000);
    expect(pings).toBeGreaterThanOrEqual(1);
  });
});

describe('reconnection', () => {
  it('reconnects after the listener is killed and restarted on the same port', async () => {
    const server = await faultServer();
    const { c, ev } = open(server.url, { reconnect: { backoffMs: [50, 100], jitterPercent: 10 } });
    const states: Array<[string, string]> = [];
    c.on('state', (state, prev) => states.push([state, prev]));
    await ev.next('open');

    await server.kill();
    const [d] = await ev.next('disconnect');
    expect(d.cause).toBe('network');
    expect(d.code).toBe(1006);
    const [r1] = await ev.next('reconnecting');
    expect(r1.attempt).toBe(1);
    const [r2] = await ev.next('reconnecting'); // refused while nothing listens
    expect(r2.attempt).toBe(2);
    expect(r2.cause).toBe('refused');

    await server.restart();
    const [o] = await ev.next('open');
    expect(o.reconnected).toBe(true);
    expect(o.downtimeMs).toBeGreaterThan(0);
    expect(o.attempt).toBeGreaterThanOrEqual(2);
    expect(c.state).toBe('open');

    // connecting -> open -> reconnecting -> (connecting -> reconnecting)* -> connecting -> open
    expect(states[0]).toEqual(['open', 'connecting']);
    expect(states[1]).toEqual(['reconnecting', 'open']);
    expect(states.at(-1)).toEqual(['open', 'connecting']);
    for (let i = 1; i < states.length; i++) expect(states[i]![1]).toBe(states[i - 1]![0]);
    const middle = states.slice(1, -1).map(([s]) => s);
    middle.forEach((s, i) => expect(s).toBe(i % 2 === 0 ? 'reconnecting' : 'connecting'));
  });

  it('follows the backoff table with at most jitterPercent extra, and waits that long between attempts', async () => {
    const server = await tcpServer('destroy');
    const { ev } = open(server.url, { reconnect: { backoffMs: [100, 200, 400], jitterPercent: 10 } });
    const delays: number[] = [];
    for (let i = 1; i <= 4; i++) {
      const [r] = await ev.next('reconnecting', 3000);
      expect(r.attempt).toBe(i);
      delays.push(r.delayMs);
    }
    await waitFor(() => server.accepts.length >= 5, 3000, { label: 'the fifth TCP connection' });
    const bases = [100, 200, 400, 400];
    bases.forEach((base, i) => {
      expect(delays[i]).toBeGreaterThanOrEqual(base);
      expect(delays[i]).toBeLessThanOrEqual(base * 1.1 + 1);
    });
    // Attempt k comes after reconnecting k: at least its delay after attempt k-1.
    for (let k = 1; k <= 4; k++) {
      expect(server.accepts[k]! - server.accepts[k - 1]!).toBeGreaterThanOrEqual(delays[k - 1]! - 20);
    }
  });

  it('gives up after maxAttempts retries', async () => {
    const port = await freePort();
    const { c, ev } = open(`ws://127.0.0.1:${port}`, { reconnect: { backoffMs: [20], maxAttempts: 3 } });
    const [code] = await ev.next('close');
    expect(code).toBe(1006);
    expect(ev.all('reconnecting').map(([r]) => r.attempt)).toEqual([1, 2, 3]);
    for (const [r] of ev.all('reconnecting')) expect(r.cause).toBe('refused');
    const giveups = ev.all('giveup');
    expect(giveups).toHaveLength(1);
    expect(giveups[0]![0].cause).toBe('refused');
    expect(ev.sequence().slice(-2)).toEqual(['giveup', 'close']);
    await expect(c.opened).rejects.toThrow();
    expect(c.state).toBe('closed');
  });

  it('does not reconnect after close()', async () => {
    const server = await faultServer();
    const { c, ev } = open(server.url, { reconnect: { backoffMs: [50] } });
    await server.nextAttempt(T);
    await ev.next('open');
    await withTimeout(c.close(), T, 'close()');
    const [code] = await ev.next('close');
    expect(code).toBe(1000);
    expect(c.state).toBe('closed');
    // Ten times the backoff: a reconnection would have reached the server.
    expect(await staysQuiet(server.nextAttempt(500))).toBe(true);
    expect(server.attempts).toHaveLength(1);
    expect(ev.all('reconnecting')).toHaveLength(0);
    // The connection's end is reported as the user's doing, not as a loss.
    for (const [d] of ev.all('disconnect')) expect(d).toMatchObject({ cause: 'user', code: 1000 });
  });

  it('does not reconnect after close() while reconnecting', async () => {
    const server = await faultServer();
    const { c, ev } = open(server.url, { reconnect: { backoffMs: [50] } });
    await server.nextAttempt(T);
    await ev.next('open');
    await server.kill();
    await ev.next('reconnecting');
    await ev.next('reconnecting'); // a refused attempt: the session keeps trying
    await withTimeout(c.close(), T, 'close()');
    const [code] = await ev.next('close');
    expect(code).toBe(1006);
    await server.restart();
    expect(await staysQuiet(server.nextAttempt(500))).toBe(true);
    expect(c.state).toBe('closed');
  });
});

describe('failure classes', () => {
  it('gives up when the server closes with 1008', async () => {
    const server = await faultServer();
    const { c, ev } = open(server.url, { reconnect: { backoffMs: [20] } });
    const conn = await server.nextConnection(T);
    await ev.next('open');
    conn.ws.close(1008, 'policy violation');
    const [g] = await ev.next('giveup');
    expect(g.cause).toBe('close');
    expect(g.code).toBe(1008);
    const [code, reason] = await ev.next('close');
    expect(code).toBe(1008);
    expect(reason).toBe('policy violation');
    expect(ev.all('reconnecting')).toHaveLength(0);
    expect(server.attempts).toHaveLength(1);
    expect(c.state).toBe('closed');
  });

  it('gives up when the upgrade is answered 404', async () => {
    const server = await faultServer({ upgrade: { status: 404 } });
    const { c, ev } = open(server.url, { reconnect: { backoffMs: [20] } });
    const [g] = await ev.next('giveup');
    expect(g.cause).toBe('http');
    expect(g.status).toBe(404);
    const [code] = await ev.next('close');
    expect(code).toBe(1006);
    await expect(c.opened).rejects.toMatchObject({ status: 404 });
    expect(ev.all('reconnecting')).toHaveLength(0);
    expect(server.attempts).toHaveLength(1);
  });

  it.each([200, 204])('gives up by default when the upgrade is answered %i (a plain HTTP endpoint: a wrong URL)', async (status) => {
    const server = await faultServer({ upgrade: { status } });
    const { c, ev } = open(server.url);
    const [g] = await ev.next('giveup');
    expect(g).toMatchObject({ cause: 'http', status });
    expect(g.reason).toMatch(/not a WebSocket endpoint/);
    expect((await ev.next('close'))[0]).toBe(1006);
    await expect(c.opened).rejects.toMatchObject({ code: 'ERR_UNEXPECTED_RESPONSE', status });
    expect(ev.all('reconnecting')).toHaveLength(0);
    expect(server.attempts).toHaveLength(1);
  });

  it('refreshes the headers after a 401 and opens on the second attempt', async () => {
    const server = await faultServer({ upgrade: requireHeader('authorization', ['Bearer token-2']) });
    let calls = 0;
    const { c, ev } = open(server.url, {
      headers: async () => ({ Authorization: `Bearer token-${++calls}` }),
      reconnect: { backoffMs: [500] },
    });
    const [o] = await ev.next('open', RETRY_SLACK);
    expect(o.reconnected).toBe(false);
    expect(calls).toBe(2);
    expect(server.attempts.map((a) => [a.headers.authorization, a.outcome, a.status])).toEqual([
      ['Bearer token-1', 'rejected', 401],
      ['Bearer token-2', 'accepted', undefined],
    ]);
    const [r] = ev.all('reconnecting');
    expect(r).toBeDefined();
    expect(r![0]).toMatchObject({ cause: 'http', delayMs: 0 });
    expect(ev.all('reconnecting')).toHaveLength(1);
    expect(c.state).toBe('open');
  });

  it('gives up when the refreshed headers get a 401 again', async () => {
    const server = await faultServer({ upgrade: requireHeader('authorization', ['never']) });
    let calls = 0;
    const { c, ev } = open(server.url, {
      headers: async () => ({ Authorization: `Bearer token-${++calls}` }),
      reconnect: { backoffMs: [20] },
    });
    const [g] = await ev.next('giveup', RETRY_SLACK);
    expect(g.cause).toBe('http');
    expect(g.status).toBe(401);
    const [code] = await ev.next('close');
    expect(code).toBe(1006);
    expect(server.attempts).toHaveLength(2);
    expect(calls).toBe(2);
    expect(ev.all('reconnecting')).toHaveLength(1);
    await expect(c.opened).rejects.toMatchObject({ status: 401 });
  });

  it("waits for a 503's Retry-After before the next attempt", async () => {
    const server = await faultServer({ upgrade: (_req, i) => (i === 0 ? unavailable(1) : 'accept') });
    const { ev } = open(server.url, { reconnect: { backoffMs: [20] } });
    const [r] = await ev.next('reconnecting');
    expect(r.cause).toBe('http');
    expect(r).toMatchObject({ retryAfter: '1', retryAfterMs: 1000 });
    // The server's second, plus the schedule's jitter (full: 0..20 ms).
    expect(r.delayMs).toBeGreaterThanOrEqual(1000);
    expect(r.delayMs).toBeLessThanOrEqual(1020);
    const [o] = await ev.next('open', T);
    expect(o.reconnected).toBe(false);
    expect(server.attempts).toHaveLength(2);
    expect(server.attempts[1]!.at - server.attempts[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('reconnects after a TCP reset in the middle of a message, and messages flow again', async () => {
    const server = await faultServer({ feedIntervalMs: 30 });
    const { ev } = open(server.url, { reconnect: { backoffMs: [50] } });
    const conn = await server.nextConnection(T);
    await ev.next('open');
    await ev.next('message');
    conn.resetMidMessage();
    const [d] = await ev.next('disconnect');
    expect(d.cause).toBe('network');
    expect(d.code).toBe(1006);
    const [o] = await ev.next('open');
    expect(o.reconnected).toBe(true);
    const seqAtReopen = server.seq;
    // A message of the new connection arrives.
    for (let i = 0; i < 50; i++) {
      const [data] = await ev.next('message');
      if (Number(data) >= seqAtReopen) break;
    }
    const messages = ev.all('message').map(([data]) => String(data));
    // Only whole feed messages: nothing of the cut-off frame.
    for (const m of messages) expect(m).toMatch(/^\d+$/);
    expect(Math.max(...messages.map(Number))).toBeGreaterThanOrEqual(seqAtReopen);
  });

  it('times out an opening handshake the server never answers', async () => {
    const server = await tcpServer('hang');
    const { ev } = open(server.url, { handshakeTimeout: 300, reconnect: { backoffMs: [50] } });
    const [r] = await ev.next('reconnecting', T);
    expect(r.cause).toBe('timeout');
    expect(r.delayMs).toBeLessThanOrEqual(50); // full jitter: uniform in [0, 50]
    await waitFor(() => server.accepts.length >= 2, T, { label: 'the second attempt' });
    expect(server.accepts[1]! - server.accepts[0]!).toBeGreaterThanOrEqual(300 + r.delayMs - 20);
  });

  it('reports a stall when messages stop while pings are answered, and reconnects', async () => {
    const server = await faultServer({ feedIntervalMs: 50 });
    const { c, ev } = open(server.url, {
      stallTimeoutMs: 400,
      heartbeat: { intervalMs: 100, timeoutMs: 1000 },
      reconnect: { backoffMs: [50] },
    });
    const conn = await server.nextConnection(T);
    await ev.next('open');
    await ev.next('message');
    conn.stall();
    const samplesAtStall = c.stats().rtt.samples;
    const [s] = await ev.next('stall', T);
    expect(s.idleMs).toBeGreaterThanOrEqual(400);
    // The heartbeat kept succeeding: only the watchdog saw the stall.
    expect(c.stats().rtt.samples).toBeGreaterThan(samplesAtStall);
    const [d] = await ev.next('disconnect');
    expect(d.cause).toBe('stall');
    const [o] = await ev.next('open');
    expect(o.reconnected).toBe(true);
    expect(ev.sequence().slice(0, 4)).toEqual(['open', 'stall', 'disconnect', 'reconnecting']);
  });
});

describe('hooks', () => {
  it('gives up without a retry when shouldReconnect returns false', async () => {
    const server = await faultServer();
    const infos: ReconnectInfo[] = [];
    const { ev } = open(server.url, {
      reconnect: { backoffMs: [20] },
      shouldReconnect: (info) => {
        infos.push(info);
        return false;
      },
    });
    const conn = await server.nextConnection(T);
    await ev.next('open');
    conn.ws.close(1011, 'server error');
    const [g] = await ev.next('giveup');
    expect(g.cause).toBe('close');
    expect(g.code).toBe(1011);
    const [code] = await ev.next('close');
    expect(code).toBe(1011);
    expect(infos).toHaveLength(1);
    expect(infos[0]).toMatchObject({ cause: 'close', code: 1011, attempt: 1, action: 'retry' });
    expect(ev.all('reconnecting')).toHaveLength(0);
    expect(server.attempts).toHaveLength(1);
  });

  it("uses shouldReconnect's delay", async () => {
    const server = await faultServer();
    const infos: ReconnectInfo[] = [];
    const { ev } = open(server.url, {
      reconnect: { backoffMs: [2000] },
      shouldReconnect: (info) => {
        infos.push(info);
        return { delayMs: 50 };
      },
    });
    const conn = await server.nextConnection(T);
    await ev.next('open');
    conn.ws.close(1011, 'server error');
    const [r] = await ev.next('reconnecting');
    expect(r).toMatchObject({ attempt: 1, delayMs: 50, cause: 'close' });
    const [o] = await ev.next('open');
    expect(o.reconnected).toBe(true);
    expect(infos[0]).toMatchObject({ cause: 'close', code: 1011, attempt: 1, action: 'retry' });
    expect(typeof infos[0]!.delayMs).toBe('number');
    expect(typeof infos[0]!.why).toBe('string');
  });

  it('calls a url function before each attempt', async () => {
    const server = await faultServer();
    let calls = 0;
    const { c, ev } = open(async () => `${server.url}/path-${++calls}`, { reconnect: { backoffMs: [20] } });
    const conn = await server.nextConnection(T);
    await ev.next('open');
    conn.ws.terminate();
    const [o] = await ev.next('open', RETRY_SLACK);
    expect(o.reconnected).toBe(true);
    expect(server.attempts.map((a) => a.path)).toEqual(['/path-1', '/path-2']);
    expect(calls).toBe(2);
    expect(c.url).toBe(`${server.url}/path-2`);
  });

  it("fails an attempt with cause 'config' when the headers function throws", async () => {
    const server = await faultServer();
    let calls = 0;
    const { c, ev } = open(server.url, {
      headers: () => {
        if (++calls === 1) throw new Error('vault unreachable');
        return { Authorization: 'Bearer ok' };
      },
      reconnect: { backoffMs: [20] },
    });
    const [r] = await ev.next('reconnecting');
    expect(r.cause).toBe('config');
    const [e] = await ev.next('error');
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toContain('vault unreachable');
    await ev.next('open', RETRY_SLACK);
    expect(server.attempts.map((a) => a.headers.authorization)).toEqual(['Bearer ok']);
    expect(c.state).toBe('open');
  });

  it("fails an attempt with cause 'config' when the headers function never settles", async () => {
    const server = await faultServer();
    let calls = 0;
    const startedAt = Date.now();
    const { ev } = open(server.url, {
      headers: () => (++calls === 1 ? new Promise<Record<string, string>>(() => undefined) : { Authorization: 'Bearer ok' }),
      configTimeoutMs: 200,
      reconnect: { backoffMs: [20] },
    });
    const [r] = await ev.next('reconnecting');
    expect(r.cause).toBe('config');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(200 - 20);
    await ev.next('open', RETRY_SLACK);
    expect(calls).toBe(2);
    expect(server.attempts).toHaveLength(1);
  });
});

describe('stats', () => {
  it('accounts for a scripted sequence of three forced disconnects', async () => {
    const server = await faultServer();
    const startedAt = Date.now();
    const { c, ev } = open(server.url, { reconnect: { backoffMs: [30] } });
    await ev.next('open');
    for (let i = 0; i < 3; i++) {
      server.connections.at(-1)!.ws.terminate();
      const [d] = await ev.next('disconnect');
      expect(d.cause).toBe('network');
      const [o] = await ev.next('open');
      expect(o.reconnected).toBe(true);
    }
    const s = c.stats();
    expect(s.state).toBe('open');
    expect(s.connects).toBe(4);
    expect(s.reconnects).toBe(3);
    expect(s.disconnects).toBe(3);
    expect(s.disconnectsByCause).toEqual({ network: 3 });
    expect(s.attempts).toBeGreaterThanOrEqual(3);
    expect(s.totalDowntimeMs).toBeGreaterThan(0);
    expect(s.longestOutageMs).toBeGreaterThan(0);
    expect(s.lastDisconnect).toMatchObject({ cause: 'network', code: 1006 });
    expect(s.lastDisconnect!.durationMs).toBeGreaterThan(0);

    const count = (event: string): number => s.log.filter((e) => e.event === event).length;
    expect(count('open')).toBe(4);
    expect(count('disconnect')).toBe(3);
    expect(count('reconnecting')).toBeGreaterThanOrEqual(3);
    const now = Date.now();
    for (const entry of s.log) {
      expect(entry.at).toBeGreaterThanOrEqual(startedAt - 1);
      expect(entry.at).toBeLessThanOrEqual(now + 1);
    }
    for (let i = 1; i < s.log.length; i++) expect(s.log[i]!.at).toBeGreaterThanOrEqual(s.log[i - 1]!.at);
    expect(s.log.map((e) => e.event).slice(0, 4)).toEqual(['open', 'disconnect', 'reconnecting', 'open']);
  });
});

describe('documented surface', () => {
  it('names heartbeat and stall failures in error events (ERR_HEARTBEAT_TIMEOUT, ERR_STALL)', async () => {
    const server = await faultServer({ feedIntervalMs: 20 });
    const { ev } = open(server.url, { heartbeat: { intervalMs: 200, timeoutMs: 200 }, stallTimeoutMs: 600, reconnect: { backoffMs: [20] } });
    const first = await server.nextConnection(T);
    await ev.next('open');
    first.stall();
    expect((await ev.next('disconnect'))[0].cause).toBe('stall');
    const second = await server.nextConnection(T);
    await ev.next('open');
    second.blackHole();
    expect((await ev.next('disconnect'))[0].cause).toBe('heartbeat');
    expect(ev.all('error').map(([e]) => e.code)).toEqual(['ERR_STALL', 'ERR_HEARTBEAT_TIMEOUT']);
  });

  it('takes heartbeat and backoff from an lws Secure Streams retry policy', async () => {
    const server = await faultServer();
    const policy = JSON.stringify({ retry: [{ fast: { backoff: [40], conceal: 65535, jitterpc: 1, svalidping: 1, svalidhup: 2 } }] });
    const { ev } = open(server.url, { policy });
    const conn = await server.nextConnection(T);
    await ev.next('open');
    const blackHoleAt = Date.now();
    conn.blackHole();
    const [d] = await ev.next('disconnect', 1000 + 1000 + 2000);
    expect(d.cause).toBe('heartbeat');
    // svalidping 1 s, svalidhup 2 s: a PING within a second, a second for proof of life.
    expect(d.at - blackHoleAt).toBeLessThanOrEqual(1000 + 1000 + 500);
    const [r] = await ev.next('reconnecting');
    expect(r.delayMs).toBeGreaterThanOrEqual(40);
    expect(r.delayMs).toBeLessThanOrEqual(40 * 1.01 + 1);
  });

  it('resets the attempt counter after resetAfterMs of uptime, and not before', async () => {
    // The server keeps listening and drops the connection only, so every
    // drop is followed by exactly one 'reconnecting' (a retry refused while
    // the server relistened would count as an attempt too).
    const cycle = async (server: FaultServer, ev: Recorder, c: WebSocketClient, uptimeMs: number): Promise<number> => {
      const conn = await server.nextConnection(T);
      await ev.next('open');
      await waitFor(() => c.stats().currentUptimeMs >= uptimeMs, T);
      conn.socket.destroy();
      const [r] = await ev.next('reconnecting');
      return r.attempt;
    };
    const first = await faultServer();
    const short = open(first.url, { heartbeat: false, reconnect: { backoffMs: [20], resetAfterMs: 100 } });
    expect(await cycle(first, short.ev, short.c, 0)).toBe(1);
    expect(await cycle(first, short.ev, short.c, 250)).toBe(1);
    const second = await faultServer();
    const long = open(second.url, { heartbeat: false, reconnect: { backoffMs: [20], resetAfterMs: 60000 } });
    expect(await cycle(second, long.ev, long.c, 0)).toBe(1);
    expect(await cycle(second, long.ev, long.c, 250)).toBe(2);
  });

  it('exposes the record through metrics() and keeps eventLogSize entries', async () => {
    const server = await faultServer();
    const { c, ev } = open(server.url, { heartbeat: false, reconnect: { backoffMs: [20] }, eventLogSize: 2 });
    await ev.next('open');
    await server.kill();
    await ev.next('reconnecting');
    await server.restart();
    await ev.next('open');
    const label = `url="${c.url}"`;
    const text = c.metrics();
    expect(text).toContain(`nlws_connects_total{${label}} 2\n`);
    expect(text).toContain(`nlws_disconnects_total{${label},cause="network"} 1\n`);
    expect(text).toContain(`nlws_state{${label},state="open"} 1\n`);
    expect(c.metrics({ app: 'x' })).toContain('nlws_connects_total{app="x"} 2\n');
    // open, disconnect, reconnecting, open happened; the log keeps the last 2.
    expect(c.stats().log.map((e) => e.event)).toEqual(['reconnecting', 'open']);
  });
});
