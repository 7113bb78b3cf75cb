/**
 * Monotonic time for every duration: heartbeat, stall watchdog, queue TTL,
 * connection uptime, outage lengths and RTTs run on the monotonic clock;
 * the wall clock only stamps what is reported. The client runs in a child
 * process under libfaketime (Debian's `faketime`, scripts/setup.sh), whose
 * wall clock the test steps an hour back or forward mid-session while the
 * monotonic clock runs on (FAKETIME_DONT_FAKE_MONOTONIC). The server is
 * reached through a relay in this process that can freeze (a black hole:
 * nothing forwarded either way, sockets left open) or go down.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runFixture, type ChildRun } from './helpers/child';
import { startFaultServer, type FaultServer } from './helpers/fault-server';
import { withTimeout } from './helpers/wait';
import { startWsServer } from './helpers/ws-server';

const T = 10_000;
const HOUR = 3_600_000;

/** libfaketime's thread-safe build, where Debian puts it (any architecture). */
const LIBFAKETIME = ['x86_64-linux-gnu', 'aarch64-linux-gnu', 'i386-linux-gnu', 'arm-linux-gnueabihf']
  .map((arch) => `/usr/lib/${arch}/faketime/libfaketimeMT.so.1`)
  .find((p) => existsSync(p));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await killAll();
  for (const f of cleanups.splice(0).reverse()) await f();
});

interface Relay {
  url: string;
  /** Stop forwarding in both directions; the sockets stay open (a black hole). */
  freeze(): void;
  /** Drop every connection and refuse new ones until up(). */
  down(): void;
  up(): void;
}

async function relayTo(port: number): Promise<Relay> {
  const pairs = new Set<[Socket, Socket]>();
  let refusing = false;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = netConnect(port, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    for (const s of pair) {
      s.on('error', () => undefined);
      s.on('close', () => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const [a, b] of pairs) {
          a.destroy();
          b.destroy();
        }
        server.close(() => resolve());
      }),
  );
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    freeze() {
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    down() {
      refusing = true;
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.destroy();
      }
    },
    up() {
      refusing = false;
    },
  };
}

type Line = Record<string, unknown> & { ev: string; n: number };

/** The client child, with its wall clock under the test's control. */
class SteppedClient {
  readonly child: ChildRun;
  readonly #file: string;

  constructor(url: string, options: object) {
    if (!LIBFAKETIME) throw new Error('libfaketime is missing: install Debian\'s faketime package (scripts/setup.sh does)');
    const dir = mkdtempSync(join(tmpdir(), 'nlws-faketime-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    this.#file = join(dir, 'offset');
    writeFileSync(this.#file, '+0\n');
    this.child = runFixture('clock-step.cjs', [url, JSON.stringify(options)], {
      env: {
        ...process.env,
        // Kept with what is preloaded already (the sanitizer run's ASan
        // runtime), after libfaketime: the other way round the two deadlock
        // at start-up (the sanitizer run allows the order: verify_asan_link_order=0).
        LD_PRELOAD: [LIBFAKETIME, process.env.LD_PRELOAD].filter(Boolean).join(':'),
        FAKETIME_TIMESTAMP_FILE: this.#file,
        FAKETIME_NO_CACHE: '1',
        FAKETIME_DONT_FAKE_MONOTONIC: '1',
      },
    });
  }

  /** The n-th line of kind `ev` (waits for it). */
  async next(ev: string, n: number): Promise<Line> {
    const line = await this.child.waitLine(new RegExp(`^\\{"ev":"${ev}","n":${n}[,}]`), T);
    return JSON.parse(line) as Line;
  }

  count(ev: string): number {
    return this.child.outputLines.filter((l) => l.startsWith(`{"ev":"${ev}"`)).length;
  }

  async now(): Promise<number> {
    const n = this.count('now') + 1;
    this.child.send('now');
    return (await this.next('now', n)).wall as number;
  }

  async stats(): Promise<{ rtt: { samples: number; maxMs?: number }; stalls: number; totalDowntimeMs: number; longestOutageMs: number }> {
    const n = this.count('stats') + 1;
    this.child.send('stats');
    return (await this.next('stats', n)).stats as never;
  }

  /** Steps the child's wall clock to `offset` (libfaketime: "-1h", "+1h") and checks that it moved. */
  async step(offset: string, byMs: number): Promise<void> {
    const before = await this.now();
    writeFileSync(this.#file, `${offset}\n`);
    const after = await this.now();
    expect(Math.abs(after - before - byMs)).toBeLessThan(HOUR / 2);
  }
}

describe('a wall clock stepped mid-session', () => {
  it('an hour back: a black hole is still found by the heartbeat, not by lws\'s backstop', async () => {
    const server = await startFaultServer();
    cleanups.push(() => server.close());
    const relay = await relayTo(server.port);
    const c = new SteppedClient(relay.url, { heartbeat: { intervalMs: 300, timeoutMs: 300 }, reconnect: false });
    await c.next('open', 1);
    await c.step('-1h', -HOUR);
    relay.freeze();
    const d = await c.next('disconnect', 1);
    // lws's own validity timer (the backstop, whole seconds) would report 'network'.
    expect(d).toMatchObject({ cause: 'heartbeat', code: 1006 });
    expect(c.child.outputLines.some((l) => l.includes('"code":"ERR_HEARTBEAT_TIMEOUT"'))).toBe(true);
  });

  it('an hour forward: a healthy, busy link stays up, with true RTTs and no stall', async () => {
    // The server answers pings itself (autoPong off): the first one only
    // after the step, so it is in flight across it.
    const server: FaultServer = await startFaultServer({ feedIntervalMs: 50, autoPong: false });
    cleanups.push(() => server.close());
    const c = new SteppedClient(server.url, {
      heartbeat: { intervalMs: 100, timeoutMs: 5000 },
      stallTimeoutMs: 2000,
      reconnect: { backoffMs: [10] },
    });
    const conn = await server.nextConnection(T);
    const held = new Promise<Buffer>((resolve) => conn.ws.once('ping', resolve));
    await c.next('open', 1);
    const payload = await withTimeout(held, T, 'the first heartbeat ping');
    await c.step('+1h', HOUR);
    conn.ws.pong(payload);
    conn.ws.on('ping', (data) => conn.ws.pong(data));
    // Ten more heartbeat round trips, all on the same connection.
    for (let i = 0; i < 200; i++) {
      if ((await c.stats()).rtt.samples >= 11) break;
      await c.next('msg', c.count('msg') + 1);
    }
    const after = await c.stats();
    expect(after.rtt.samples).toBeGreaterThanOrEqual(11);
    // The held ping's RTT, measured across the step by the wall clock, would be an hour.
    expect(after.rtt.maxMs).toBeLessThan(60_000);
    expect(c.count('disconnect')).toBe(0);
    expect(c.count('stall')).toBe(0);
    expect(after.stalls).toBe(0);
  });

  it('an hour forward during an outage: the queued message is sent within its TTL, and the outage is as long as it was', async () => {
    const server = await startWsServer({ defaultTimeoutMs: T });
    cleanups.push(() => server.close());
    const relay = await relayTo(server.port);
    const c = new SteppedClient(relay.url, { heartbeat: false, queue: { ttlMs: 60_000 }, reconnect: { backoffMs: [50] } });
    await c.next('open', 1);
    relay.down();
    await c.next('disconnect', 1);
    c.child.send('send queued during the outage');
    await c.step('+1h', HOUR);
    relay.up();
    const open = await c.next('open', 2);
    expect(open.downtimeMs as number).toBeLessThan(60_000);
    await server.nextConnection(T);
    const conn = await server.nextConnection(T);
    expect(String((await conn.nextMessage(T)).data)).toBe('queued during the outage');
    expect(c.count('drop')).toBe(0);
    const gap = await c.next('gap', 1);
    expect((gap.to as number) - (gap.from as number)).toBeLessThan(60_000);
    expect((gap.to as number) - (gap.from as number)).toBeGreaterThanOrEqual(0);
    const stats = await c.stats();
    expect(stats.totalDowntimeMs).toBeLessThan(60_000);
    expect(stats.longestOutageMs).toBeLessThan(60_000);
  });

  it('an hour back during an outage: the outage is not negative', async () => {
    const server = await startFaultServer();
    cleanups.push(() => server.close());
    const relay = await relayTo(server.port);
    const c = new SteppedClient(relay.url, { heartbeat: false, reconnect: { backoffMs: [50] } });
    await c.next('open', 1);
    relay.down();
    await c.next('disconnect', 1);
    await c.step('-1h', -HOUR);
    relay.up();
    const open = await c.next('open', 2);
    expect(open.downtimeMs as number).toBeGreaterThanOrEqual(0);
    expect(open.downtimeMs as number).toBeLessThan(60_000);
    const stats = await c.stats();
    expect(stats.totalDowntimeMs).toBeGreaterThanOrEqual(0);
    expect(stats.totalDowntimeMs).toBeLessThan(60_000);
  });
});
