/**
 * Real network faults between two network namespaces the test creates: the
 * client (this library, in a child process) in one, a ws server (another
 * child) in the other, joined by an impaired link (test/helpers/netns.ts,
 * test/helpers/impair.py): 200 ms +/- 50 ms one-way delay, 5 % packet loss,
 * and a cut link that drops every packet with no FIN, RST or ICMP.
 *
 * The delay and loss come from a userspace TUN forwarder, not `tc netem`:
 * the kernels this runs on (here and CI) have no sch_netem and no tc gact,
 * and the forwarder's loss is seeded, the same on every run.
 *
 * Needs root (namespaces, TUN devices). Without it the suite is skipped and
 * its title says why; NLWS_NETNS_REQUIRED=1 (CI) turns that into a failure.
 * Figures (RTT, detection and recovery times, packet counts) are printed.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exitOutcome, type ChildRun } from './helpers/child';
import { waitFor } from './helpers/wait';
import { createTopology, probeNetns, SERVER_ADDR, type Impairment, type Topology } from './helpers/netns';

const support = probeNetns();
const required = process.env.NLWS_NETNS_REQUIRED === '1';
const title = support.ok || required ? 'network faults in namespaces' : `network faults in namespaces (skipped: ${support.reason})`;

const SEED = 5;
const DELAY: Impairment = { delayMs: 200, jitterMs: 50, loss: 0 };
/** The longest round trip the link allows: both ways at delay + jitter. */
const MAX_LINK_RTT = 2 * (DELAY.delayMs + DELAY.jitterMs);
const MIN_LINK_RTT = 2 * (DELAY.delayMs - DELAY.jitterMs);
/**
 * Scheduling slack on top of a computed bound: the client's times come from
 * its service thread, but that thread, Node and the forwarder share two
 * cores with the rest of the run.
 */
const SLACK_MS = 1000;
const T = 15_000;

const FIXTURES = join(__dirname, 'fixtures');

interface Line {
  ev: string;
  n?: number;
  [k: string]: unknown;
}

let topo: Topology | undefined;
const children: ChildRun[] = [];

/** The n-th line of kind `ev` from a child (JSON), waiting for it. */
async function line(child: ChildRun, ev: string, n: number | string = 1, timeoutMs = T): Promise<Line> {
  const match = typeof n === 'number' ? new RegExp(`^\\{"ev":"${ev}","n":${n}[,}]`) : new RegExp(`^\\{"ev":"${ev}".*${n}`);
  return JSON.parse(await child.waitLine(match, timeoutMs)) as Line;
}

/** Every line of kind `ev` so far. */
function lines(child: ChildRun, ev: string): Line[] {
  return child.outputLines.filter((l) => l.startsWith(`{"ev":"${ev}"`)).map((l) => JSON.parse(l) as Line);
}

async function startServer(): Promise<{ server: ChildRun; url: string }> {
  const server = topo!.exec(topo!.serverNs, process.execPath, [join(FIXTURES, 'netns-server.cjs')]);
  children.push(server);
  const { port } = JSON.parse(await server.waitLine(/"ev":"listening"/, T)) as { port: number };
  return { server, url: `ws://${SERVER_ADDR}:${port}/` };
}

function startClient(url: string, options: object): ChildRun {
  const client = topo!.exec(topo!.clientNs, process.execPath, [join(FIXTURES, 'netns-client.cjs'), url, JSON.stringify(options)]);
  children.push(client);
  return client;
}

/** What the server received, as [connection, seq] in arrival order. */
async function received(server: ChildRun): Promise<Array<[number, number]>> {
  const id = lines(server, 'received').length + 1;
  server.send(`received ${id}`);
  const answer = JSON.parse(await server.waitLine(new RegExp(`^\\{"ev":"received","id":"${id}"`), T)) as Line;
  return answer.log as Array<[number, number]>;
}

interface ClientStats {
  disconnects: number;
  rtt: { samples: number; lastMs?: number; avgMs?: number; maxMs?: number };
}

async function clientStats(client: ChildRun): Promise<ClientStats> {
  const n = lines(client, 'stats').length + 1;
  client.send('stats');
  return (await line(client, 'stats', n)).stats as ClientStats;
}

/** TCP sockets in a namespace whose peer is the server's port (ss). */
function sockets(ns: string, port: number): Array<{ state: string; sendQ: number }> {
  const out = execFileSync('ip', ['netns', 'exec', ns, 'ss', '-tanH'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && f[4] === `${SERVER_ADDR}:${port}`)
    .map((f) => ({ state: f[0]!, sendQ: Number(f[2]) }));
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Close the client cleanly and check that neither child crashed. */
async function finish(client: ChildRun, server: ChildRun): Promise<void> {
  client.send('close');
  const c = await client.waitExit(T);
  expect(exitOutcome(c)).toEqual({ code: 0, signal: null, crashText: null });
  server.proc.stdin?.end();
  const s = await server.waitExit(T);
  expect(exitOutcome(s)).toEqual({ code: 0, signal: null, crashText: null });
}

describe.skipIf(!support.ok && !required)(title, () => {
  beforeAll(async () => {
    topo = await createTopology(SEED);
  });

  afterEach(async () => {
    for (const c of children.splice(0)) {
      c.kill('SIGKILL');
      await c.exited;
    }
    // A test that failed with the link cut leaves it whole for the next one.
    await topo?.link.up().catch(() => undefined);
  });

  afterAll(async () => {
    await topo?.destroy();
  });

  it('200 ms +/- 50 ms each way: heartbeats measure the RTT, no false timeouts, messages both ways in order', async () => {
    await topo!.link.set(DELAY);
    const { server, url } = await startServer();
    // timeoutMs 2000: four worst-case round trips (500 ms) of this link.
    const client = startClient(url, { heartbeat: { intervalMs: 1000, timeoutMs: 2000 } });
    await line(client, 'open');
    const count = 100;
    client.send(`send 1 ${count}`);
    server.send(`feed ${count} 20`);
    await line(server, 'msg', `"seq":${count},`);
    await line(client, 'msg', count);
    // Heartbeat pings every second; wait (bounded) for two samples.
    let stats = await clientStats(client);
    await waitFor(async () => (stats = await clientStats(client)).rtt.samples >= 2, T, { intervalMs: 250, label: 'two RTT samples' }).catch(
      (e: Error) => {
        throw new Error(`${e.message}; last stats: ${JSON.stringify(stats)}`);
      },
    );
    const log = await received(server);
    const link = await topo!.link.stats();
    console.log(
      `[netfaults] delay ${DELAY.delayMs}+/-${DELAY.jitterMs} ms: rtt last ${stats.rtt.lastMs} avg ${Math.round(stats.rtt.avgMs ?? 0)} max ${stats.rtt.maxMs} ms (${stats.rtt.samples} samples); packets c->s ${link.ab.forwarded}, s->c ${link.ba.forwarded}`,
    );

    expect(log).toEqual(range(1, count).map((s) => [1, s]));
    expect(lines(client, 'msg').map((l) => l.seq)).toEqual(range(0, count - 1));
    expect(stats.rtt.samples).toBeGreaterThanOrEqual(2);
    // The link never delivers a round trip faster than this.
    expect(stats.rtt.lastMs).toBeGreaterThanOrEqual(MIN_LINK_RTT);
    expect(stats.rtt.avgMs).toBeGreaterThanOrEqual(MIN_LINK_RTT);
    expect(stats.disconnects).toBe(0);
    expect(lines(client, 'disconnect')).toEqual([]);
    await finish(client, server);
  }, 30_000);

  it('5 % loss each way (and the delay): TCP recovers every loss, no false heartbeat timeout, nothing lost or reordered', async () => {
    await topo!.link.set({ ...DELAY, loss: 0.05 });
    const before = await topo!.link.stats();
    const { server, url } = await startServer();
    // A lost PING or PONG segment comes again after TCP's retransmission
    // timeout (about RTT + 4 x deviation, at least 200 ms, doubling each
    // time): two losses of the same segment cost ~0.6 + 1.2 s on this link.
    // timeoutMs 5000 covers three, so only a dead link trips it.
    const client = startClient(url, { heartbeat: { intervalMs: 1000, timeoutMs: 5000 } });
    await line(client, 'open');
    const count = 200;
    client.send(`send 1 ${count}`);
    server.send(`feed ${count} 10`);
    await line(server, 'msg', `"seq":${count},`, 25_000);
    await line(client, 'msg', count, 25_000);
    const log = await received(server);
    const stats = await clientStats(client);
    const after = await topo!.link.stats();
    const lost = { ab: after.ab.lost - before.ab.lost, ba: after.ba.lost - before.ba.lost };
    const read = { ab: after.ab.read - before.ab.read, ba: after.ba.read - before.ba.read };
    console.log(
      `[netfaults] 5 % loss: packets c->s ${read.ab} read, ${lost.ab} lost; s->c ${read.ba} read, ${lost.ba} lost; rtt avg ${Math.round(stats.rtt.avgMs ?? 0)} max ${stats.rtt.maxMs} ms`,
    );

    // The loss really happened, both ways.
    expect(lost.ab).toBeGreaterThan(0);
    expect(lost.ba).toBeGreaterThan(0);
    expect(log).toEqual(range(1, count).map((s) => [1, s]));
    expect(lines(client, 'msg').map((l) => l.seq)).toEqual(range(0, count - 1));
    expect(lines(client, 'disconnect')).toEqual([]);
    expect(stats.disconnects).toBe(0);
    await finish(client, server);
  }, 40_000);

  it('link cut without FIN or RST: detected by the heartbeat within its bounds, reconnects when the link returns, every queued message arrives once, in order', async () => {
    await topo!.link.set(DELAY);
    const { server, url } = await startServer();
    const port = Number(new URL(url).port);
    const heartbeat = { intervalMs: 1000, timeoutMs: 2000 };
    const backoffMs = 250;
    const handshakeTimeout = 3000;
    const client = startClient(url, {
      heartbeat,
      handshakeTimeout,
      reconnect: { backoffMs: [backoffMs], jitterPercent: 1 },
    });
    await line(client, 'open');
    client.send('send 1 50');
    await line(server, 'msg', '"seq":50,');

    const cut = await topo!.link.down();
    // Written into the dead connection before anyone can know: lost (the
    // README's delivery guarantee), and never delivered later (below).
    client.send('send 51 60');
    const disconnect = await line(client, 'disconnect');
    const detectMs = (disconnect.at as number) - cut.at;
    await line(client, 'reconnecting', 1);
    // The dead connection was closed abortively: the client's kernel holds
    // nothing for it that it could deliver when the link returns (a
    // FIN-WAIT-1 socket would retransmit 51..60 then, after the new
    // connection's messages). Only the next attempt's SYN may be there.
    const leftovers = sockets(topo!.clientNs, port).filter((s) => s.state !== 'SYN-SENT');
    // Now the session knows: what is sent waits in its queue.
    client.send('send 61 160');
    const sent = await line(client, 'sent', '"to":160');
    // Keep the link down across a failed attempt (its handshake times out).
    await line(client, 'reconnecting', 2, handshakeTimeout + T);
    const restored = await topo!.link.up();
    const open = await line(client, 'open', 2);
    const recoveryMs = (open.at as number) - restored.at;
    await line(server, 'msg', '"seq":160,');
    const log = await received(server);
    const link = await topo!.link.stats();
    console.log(
      `[netfaults] link cut: detected after ${Math.round(detectMs)} ms (heartbeat ${heartbeat.intervalMs}/${heartbeat.timeoutMs} ms), ` +
        `down ${Math.round(restored.at - cut.at)} ms with ${lines(client, 'reconnecting').length} attempts (errors: ${lines(client, 'error')
          .map((e) => e.code)
          .join(',')}), open ${Math.round(recoveryMs)} ms after the link returned; ` +
        `server got ${log.length} messages on ${new Set(log.map(([c]) => c)).size} connections; packets cut ${link.ab.cut + link.ba.cut}`,
    );

    // Detected by the heartbeat, not by anything the network said.
    expect(disconnect.cause).toBe('heartbeat');
    expect(lines(client, 'error').map((e) => e.code)[0]).toBe('ERR_HEARTBEAT_TIMEOUT');
    // The bound (README, "Heartbeat granularity"): PINGs go out every
    // intervalMs; the first one whose PONG cannot come back left at most
    // one round trip before the cut (else its PONG would have arrived) and
    // at most intervalMs after it; the connection is dropped timeoutMs
    // after that PING. So timeoutMs - RTT < detection <= intervalMs +
    // timeoutMs, plus scheduling slack.
    expect(detectMs).toBeGreaterThan(heartbeat.timeoutMs - MAX_LINK_RTT);
    expect(detectMs).toBeLessThanOrEqual(heartbeat.intervalMs + heartbeat.timeoutMs + SLACK_MS);
    expect(leftovers).toEqual([]);
    expect(['reconnecting', 'connecting']).toContain(sent.state);
    // Recovery: an attempt in progress when the link returns either
    // completes (its SYN is retransmitted) or times out after
    // handshakeTimeout; the next one starts backoffMs (+1 %) later and
    // needs two round trips (TCP, then the upgrade).
    expect(open.reconnected).toBe(true);
    expect(recoveryMs).toBeLessThanOrEqual(handshakeTimeout + backoffMs * 1.01 + 2 * MAX_LINK_RTT + SLACK_MS);

    // Before the cut: once, on the first connection. Queued while down:
    // all of them, in order, once, on the connection that opened after the
    // link came back. Nothing else (51..60 died with the old connection).
    const next = log.find(([c]) => c !== 1)?.[0] ?? -1;
    expect(next).toBeGreaterThan(1);
    expect(log).toEqual([...range(1, 50).map((s) => [1, s]), ...range(61, 160).map((s) => [next, s])]);
    await finish(client, server);
  }, 45_000);
});
