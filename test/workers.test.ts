/**
 * worker_threads: every worker is its own Node environment with its own
 * native service thread. Workers echo in parallel, are terminated mid-churn
 * and with connections at every stage; the main thread must keep working,
 * and nothing may crash on the way out.
 *
 * The child-process tests come first: there a crash is reported as the
 * child's exit code or signal. The same scenarios then run in this process
 * as well (as the plain tests would be written); a crash there ends this
 * test file's process, so they come last.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type WebSocketClient } from './lib';
import { exitOutcome, killAll, runFixture, FIXTURES } from './helpers/child';
import { startRawServer, type RawServer } from './helpers/raw-server';
import { once, waitFor, withTimeout } from './helpers/wait';
import { startWsServer, type WsServer } from './helpers/ws-server';

const T = 10_000;
const servers: Array<WsServer | RawServer> = [];
const workers = new Set<Worker>();
const clients: WebSocketClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all([...workers].map((w) => w.terminate()));
  workers.clear();
  await killAll();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function echoServer(): Promise<WsServer> {
  const s = await startWsServer({ echo: true, defaultTimeoutMs: T });
  servers.push(s);
  return s;
}

function startWorker(fixture: string, workerData: unknown): Worker {
  const w = new Worker(join(FIXTURES, fixture), { workerData });
  workers.add(w);
  w.once('exit', () => workers.delete(w));
  return w;
}

/** Open sockets on the server side (TCP, any state). */
function openSockets(s: WsServer | RawServer): Promise<number> {
  return new Promise((resolve, reject) =>
    s.server.getConnections((error, n) => (error ? reject(error) : resolve(n))),
  );
}

async function expectAllSocketsClosed(s: WsServer | RawServer, label: string): Promise<void> {
  await waitFor(async () => (await openSockets(s)) === 0, T, { intervalMs: 20, label });
}

/** The main thread connects and echoes: proof the process is still in working order. */
async function mainThreadEchoes(url: string): Promise<void> {
  const c = connect(url);
  clients.push(c);
  await withTimeout(c.opened, T, 'main thread open');
  const back = once<[string | Buffer, boolean]>(c, 'message', T);
  c.send('main thread still works');
  expect((await back)[0]).toBe('main thread still works');
  await withTimeout(c.close(1000), T, 'main thread close');
}

type HoldStage = 'connecting' | 'open' | 'receiving' | 'sending' | 'closing';
const HOLD_STAGES: readonly HoldStage[] = ['connecting', 'open', 'receiving', 'sending', 'closing'];

/** The server a worker-hold.cjs worker at `stage` connects to. */
async function serverFor(stage: HoldStage, echo: WsServer): Promise<WsServer | RawServer> {
  if (stage === 'connecting') {
    const s = await startRawServer(null, { defaultTimeoutMs: T }); // never answers the upgrade
    servers.push(s);
    return s;
  }
  if (stage === 'closing') {
    const s = await startRawServer((conn) => conn.accept(), { defaultTimeoutMs: T }); // never answers Close
    servers.push(s);
    return s;
  }
  if (stage === 'receiving') {
    const s = await startWsServer({ defaultTimeoutMs: T });
    servers.push(s);
    // On the first message, stream until the socket goes away (bounded by a count).
    s.wss.on('connection', (ws) => {
      ws.once('message', () => {
        let sent = 0;
        const pump = (): void => {
          if (ws.readyState !== ws.OPEN || sent >= 200_000) return;
          for (let i = 0; i < 50; i++) ws.send(`stream-${sent++}`);
          setImmediate(pump);
        };
        pump();
      });
    });
    return s;
  }
  return echo;
}

const STATE_AT_HOLD: Record<HoldStage, number> = { connecting: 0, open: 1, receiving: 1, sending: 1, closing: 2 };

interface ChurnOutcome {
  index: number;
  progress: number;
  finished: boolean;
  code: number;
}

function expectChurnedMidWay(outcomes: readonly ChurnOutcome[]): void {
  expect(outcomes).toHaveLength(8);
  for (const o of outcomes) {
    expect(o.finished, `worker ${o.index} ran out of rounds before terminate`).toBe(false);
    expect(o.progress).toBeGreaterThanOrEqual(3 + o.index * 2);
    expect(o.code).toBe(1); // terminate()d, not exited on its own
  }
}

describe('worker teardown in a child process (a crash shows as its exit code or signal)', () => {
  async function runMain(args: string[]): Promise<Record<string, unknown>> {
    const child = runFixture('workers-main.cjs', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const result = await child.waitExit(60_000);
    const context = `stderr:\n${result.stderr}\nstdout:\n${result.stdout}`;
    expect(exitOutcome(result), context).toEqual({ code: 0, signal: null, crashText: null });
    const line = child.outputLines.find((l) => l.startsWith('{'));
    expect(line, context).toBeDefined();
    const parsed = JSON.parse(line as string) as Record<string, unknown>;
    expect(parsed.echoed).toBe('main thread still works');
    return parsed;
  }

  it('8 churning workers terminated mid-way (twice): the process exits 0', async () => {
    const echo = await echoServer();
    const parsed = await runMain(['churn', echo.url, '2']);
    const rounds = parsed.churned as ChurnOutcome[][];
    expect(rounds).toHaveLength(2);
    for (const outcomes of rounds) expectChurnedMidWay(outcomes);
    await expectAllSocketsClosed(echo, 'sockets closed');
  }, 90_000);

  // Teardown races with event delivery: several workers in turn per process,
  // so that a race shows up as a failure rather than pass by luck.
  const rounds = 5;
  it.each(HOLD_STAGES)(`${rounds} workers in turn terminated while %s: the process exits 0`, async (stage) => {
    const echo = await echoServer();
    const server = await serverFor(stage, echo);
    const parsed = await runMain(['hold', stage, server.url, echo.url, String(rounds)]);
    expect(parsed.held).toEqual(
      Array.from({ length: rounds }, () => ({ stage, first: { stage, readyState: STATE_AT_HOLD[stage] }, code: 1 })),
    );
    await expectAllSocketsClosed(server, 'sockets closed');
  }, 60_000);
});

describe('worker threads in this process', () => {
  it('8 workers each echo 100 messages, close and exit by themselves; the main thread gets every result', async () => {
    const server = await echoServer();
    const count = 100;
    const runs = Array.from({ length: 8 }, async (_, index) => {
      const w = startWorker('worker-echo.cjs', { url: server.url, index, count });
      const exit = once<[number]>(w, 'exit', 30_000);
      const [result] = await once<[Record<string, unknown>]>(w, 'message', 30_000);
      const [code] = await exit; // exits by itself: nothing but the closed connection was holding it
      return { result, code };
    });
    const all = await Promise.all(runs);
    const threadIds = new Set<unknown>();
    all.forEach(({ result, code }, index) => {
      expect(code).toBe(0);
      expect(result).toMatchObject({ index, received: count, mismatches: 0, code: 1000, reason: `w${index} done` });
      threadIds.add(result.threadId);
    });
    expect(threadIds.size).toBe(8);
    expect(server.connections).toBe(8);
    await expectAllSocketsClosed(server, 'all worker sockets closed');
  }, 60_000);

  describe('terminate() with a connection in each stage', () => {
    it.each(HOLD_STAGES)(
      'worker terminated while %s: no crash, its socket is closed, the main thread keeps working',
      async (stage) => {
        const echo = await echoServer();
        const server = await serverFor(stage, echo);
        const w = startWorker('worker-hold.cjs', { url: server.url, stage });
        const [first] = await once<[{ stage?: string; readyState?: number; error?: string }]>(w, 'message', T);
        expect(first).toEqual({ stage, readyState: STATE_AT_HOLD[stage] });
        if (stage === 'connecting') {
          await (server as RawServer).nextConnection(T);
        } else if (stage === 'closing') {
          const conn = await (server as RawServer).nextConnection(T);
          expect((await conn.nextFrame(T)).opcode).toBe(0x8);
        }
        expect(await openSockets(server)).toBe(1);

        const code = await withTimeout(w.terminate(), T, `terminate while ${stage}`);
        expect(code).toBe(1);
        await expectAllSocketsClosed(server, `socket closed after terminate while ${stage}`);
        await mainThreadEchoes(echo.url);
      },
      30_000,
    );
  });

  it('8 workers connecting and closing in a loop, terminated mid-way: no crash, the main thread keeps working', async () => {
    const server = await echoServer();
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, async (_, index): Promise<ChurnOutcome> => {
        const w = startWorker('worker-churn.cjs', { url: server.url, index, maxRounds: 5000 });
        // Staggered: workers are terminated at different points of their rotation.
        const target = 3 + index * 2;
        let progress = 0;
        let finished = false;
        const exit = once<[number]>(w, 'exit', 30_000);
        await withTimeout(
          new Promise<void>((resolve, reject) => {
            w.on('message', (m: { progress?: number; done?: boolean; error?: string }) => {
              if (m.error) reject(new Error(m.error));
              if (m.done) finished = true;
              if (m.progress) progress = m.progress;
              if (progress >= target || finished) resolve();
            });
            w.once('error', reject);
          }),
          20_000,
          `churn worker ${index} progress`,
        );
        const code = await withTimeout(w.terminate(), T, `terminate churn worker ${index}`);
        await exit;
        return { index, progress, finished, code };
      }),
    );
    expectChurnedMidWay(outcomes);
    // Torn-down environments leave no TCP connection behind.
    await expectAllSocketsClosed(server, 'churn worker sockets closed after terminate');
    await mainThreadEchoes(server.url);
  }, 60_000);
});
