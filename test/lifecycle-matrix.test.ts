/**
 * Lifecycle matrix: a child process (test/fixtures/lifecycle-matrix.cjs)
 * takes one session to a stage and leaves there, in every way a process
 * leaves. Stages: created, resolving, connecting (TCP), racing (TCP to two
 * addresses of a name at once), tls (handshake), open, reconnect-wait,
 * closing. Ways:
 *   return   the script returns with the session referenced: like a ws socket
 *            or a pending dns.lookup, the session keeps the process alive
 *            (README: unref()/ref()). Proven by the child still handling a
 *            SIGUSR2 after returning; its handler calls terminate(), and the
 *            process must then exit by itself with 0.
 *   unref    unref() and return: exits by itself with 0.
 *   exit     process.exit(3): exit code 3.
 *   throw    an uncaught exception: exit code 1 (Node's code for it; 7 would
 *            mean the handler itself failed) with the message on stderr.
 *   sigterm  killed by SIGTERM (no handler): signal SIGTERM, no core.
 * Every cell must exit within EXIT_BOUND_MS of the action, with nothing like
 * "Aborted", "Segmentation fault", "FATAL ERROR" or "Assertion" on stderr.
 *
 * Each stage is confirmed before the child acts: the server sees the
 * connection, the ClientHello or the Close frame; the DNS server sees the
 * query; the kernel shows the socket (both, racing) in SYN_SENT; the child reports
 * 'reconnecting'. test/lifecycle.test.ts covers created/open/closing and an
 * unanswered upgrade with repeats (races at start-up); test/workers.test.ts
 * covers eight workers connecting and closing concurrently, terminated
 * mid-way, in a child process and in-process.
 *
 * The resolving stage needs a private mount namespace (root): without one it
 * is skipped and its title says why; NLWS_NETNS_REQUIRED=1 (CI) makes that a
 * failure.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ChildRun, exitOutcome, FIXTURES, killAll, runFixture, type ChildResult } from './helpers/child';
import { Opcode } from './helpers/frames';
import { privateResolvConf, startHangingDns } from './helpers/hanging-dns';
import { startHelloSink } from './helpers/hello-sink';
import { startRawServer } from './helpers/raw-server';
import { startSynBlackhole } from './helpers/syn-blackhole';
import { waitFor } from './helpers/wait';
import { startWsServer } from './helpers/ws-server';

/** Time allowed from the action (go, SIGTERM, SIGUSR2) to the exit: a hang detector. */
const EXIT_BOUND_MS = 5_000;
/** Time for a child to reach a stage (start-up includes loading the addon). */
const STAGE_MS = 15_000;
/** The name the resolving stage looks up; only the test's DNS server ever sees it. */
const HANGING_NAME = 'resolving.nlws-matrix.example';

type Stage = 'created' | 'resolving' | 'connecting' | 'racing' | 'tls' | 'open' | 'reconnect-wait' | 'closing';
type How = 'return' | 'unref' | 'exit' | 'throw' | 'sigterm';

const STAGES: readonly Stage[] = ['created', 'resolving', 'connecting', 'racing', 'tls', 'open', 'reconnect-wait', 'closing'];
const HOWS: readonly How[] = ['return', 'unref', 'exit', 'throw', 'sigterm'];
/** What the child reports when it acts: readyState and state. */
const STATE_AT: Record<Stage, string> = {
  created: 'state 0 connecting',
  resolving: 'state 0 connecting',
  connecting: 'state 0 connecting',
  racing: 'state 0 connecting',
  tls: 'state 0 connecting',
  open: 'state 1 open',
  'reconnect-wait': 'state 0 reconnecting',
  closing: 'state 2 closing',
};

const cleanups: Array<() => Promise<void>> = [];
/** Milliseconds from the action to the exit, per cell: printed at the end, for the record. */
const exitTimes = new Map<Stage, Partial<Record<How, number>>>();

function record(stage: Stage, how: How, ms: number): void {
  exitTimes.set(stage, { ...exitTimes.get(stage), [how]: Math.round(ms) });
}

afterAll(() => {
  const rows = [...exitTimes].map(([stage, t]) => `${stage.padEnd(15)}${HOWS.map((h) => String(t[h] ?? '-').padStart(9)).join('')}`);
  console.log(`exit times (ms from the action)\n${' '.repeat(15)}${HOWS.map((h) => h.padStart(9)).join('')}\n${rows.join('\n')}`);
});

afterEach(async () => {
  await killAll();
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

interface StageRig {
  /** Starts the child at `url` with the fixture's arguments. */
  spawn(args: string[]): ChildRun;
  url: string;
  /** Resolves once the stage is confirmed from outside the child (after 'ready'). */
  confirm(child: ChildRun): Promise<void>;
}

const fixtureChild = (args: string[]): ChildRun => runFixture('lifecycle-matrix.cjs', args);

/** Servers and confirmation for each stage. */
const RIGS: Record<Stage, () => Promise<StageRig>> = {
  async created() {
    const s = await startWsServer({ echo: true, defaultTimeoutMs: STAGE_MS });
    cleanups.push(() => s.close());
    // Acts in connect()'s own tick: 'state 0 connecting' is the proof.
    return { url: s.url, spawn: fixtureChild, confirm: async () => undefined };
  },
  async resolving() {
    const dns = await startHangingDns();
    cleanups.push(() => dns.close());
    return {
      url: `ws://${HANGING_NAME}:80/`,
      spawn: (args) => {
        const [command, wrapped] = dns.wrap(process.execPath, [join(FIXTURES, 'lifecycle-matrix.cjs'), ...args]);
        return new ChildRun(command, wrapped);
      },
      async confirm() {
        const q = await dns.queries.next(STAGE_MS);
        expect(q.name).toBe(HANGING_NAME);
      },
    };
  },
  async connecting() {
    const hole = await startSynBlackhole(STAGE_MS);
    cleanups.push(() => hole.close());
    return { url: hole.url, spawn: fixtureChild, confirm: () => hole.waitSynSent(STAGE_MS) };
  },
  async racing() {
    // The child's lookup gives both addresses; both drop SYNs.
    const hole = await startSynBlackhole(STAGE_MS, { hosts: ['127.0.0.1', '127.0.0.2'] });
    cleanups.push(() => hole.close());
    return {
      url: `ws://racing.nlws-matrix.test:${hole.port}/`,
      spawn: fixtureChild,
      async confirm() {
        await hole.waitSynSent(STAGE_MS, '127.0.0.1');
        await hole.waitSynSent(STAGE_MS, '127.0.0.2');
      },
    };
  },
  async tls() {
    const sink = await startHelloSink();
    cleanups.push(() => sink.close());
    return {
      url: sink.url,
      spawn: fixtureChild,
      async confirm() {
        await sink.hellos.next(STAGE_MS);
      },
    };
  },
  async open() {
    const s = await startWsServer({ echo: true, defaultTimeoutMs: STAGE_MS });
    cleanups.push(() => s.close());
    return {
      url: s.url,
      spawn: fixtureChild,
      async confirm() {
        await s.nextConnection(STAGE_MS);
      },
    };
  },
  async 'reconnect-wait'() {
    const s = await startWsServer({ defaultTimeoutMs: STAGE_MS });
    cleanups.push(() => s.close());
    // Every connection is dropped at once (no Close frame): the session backs off.
    s.wss.on('connection', (ws) => ws.terminate());
    return {
      url: s.url,
      spawn: fixtureChild,
      async confirm(child) {
        await s.nextConnection(STAGE_MS);
        const line = child.outputLines.find((l) => l.startsWith('reconnecting ')) ?? '';
        expect(Number(line.split(' ')[1])).toBeGreaterThanOrEqual(60_000);
      },
    };
  },
  async closing() {
    // Accepts the upgrade and never answers anything: no Close echo.
    const s = await startRawServer((conn) => conn.accept(), { defaultTimeoutMs: STAGE_MS });
    cleanups.push(() => s.close());
    return {
      url: s.url,
      spawn: fixtureChild,
      async confirm() {
        const conn = await s.nextConnection(STAGE_MS);
        const frame = await conn.nextFrame(STAGE_MS);
        expect(frame.opcode).toBe(Opcode.Close);
        expect(frame.payload.readUInt16BE(0)).toBe(1000);
      },
    };
  },
};

function expectExit(result: ChildResult, code: number | null, signal: NodeJS.Signals | null): void {
  expect(exitOutcome(result), `stderr:\n${result.stderr}\nstdout:\n${result.stdout}`).toEqual({
    code,
    signal,
    crashText: null,
  });
}

async function leave(stage: Stage, how: How): Promise<void> {
  const rig = await RIGS[stage]();
  const child = rig.spawn([rig.url, stage, how]);
  await child.waitLine('ready', STAGE_MS);
  await rig.confirm(child);

  if (how === 'sigterm') {
    child.kill('SIGTERM');
    const killed = await child.waitExit(EXIT_BOUND_MS);
    record(stage, how, killed.ms);
    expectExit(killed, null, 'SIGTERM');
    return;
  }
  if (stage !== 'created') child.send('go'); // created acted in connect()'s tick
  if (how === 'return') {
    await child.waitLine('returned', STAGE_MS);
    // Alive after returning: only the session can be holding the event loop.
    child.kill('SIGUSR2');
  }
  const result = await child.waitExit(EXIT_BOUND_MS);
  record(stage, how, result.ms);
  const expected: Record<Exclude<How, 'sigterm'>, number> = { return: 0, unref: 0, exit: 3, throw: 1 };
  expectExit(result, expected[how], null);
  expect(child.outputLines).toContain(STATE_AT[stage]);
  if (how === 'throw') expect(result.stderr).toContain(`Error: boom at ${stage}`);
  if (how === 'return') {
    const lines = child.outputLines;
    const at = lines.indexOf('terminating');
    expect(at, result.stdout).toBeGreaterThan(lines.indexOf('returned'));
    // The session ended after the signal, and the process with it.
    expect(lines.slice(at + 1).some((l) => l.startsWith('close '))).toBe(true);
  }
}

/** CI sets it: the resolving stage must run there, not skip. */
const required = process.env.NLWS_NETNS_REQUIRED === '1';

describe('a child process leaves at every stage, in every way', () => {
  describe.each(STAGES)('stage %s', (stage) => {
    const skip = stage === 'resolving' && !privateResolvConf.ok && !required;
    (skip ? it.skip : it).each(HOWS)(
      `by %s${skip ? ` (skipped: ${privateResolvConf.why})` : ''}`,
      async (how) => {
        if (stage === 'resolving') expect(privateResolvConf.ok, privateResolvConf.why).toBe(true);
        await leave(stage, how);
      },
    );
  });
});

/** Threads of a running process, from /proc. */
function threadsOf(pid: number): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

describe('name lookups that finish after their session ended', () => {
  // The lookup runs on a detached helper thread that outlives what started
  // it; its answer must land harmlessly, also after the whole worker
  // environment (its service thread and mailbox) is gone.
  const skip = !privateResolvConf.ok && !required;
  (skip ? it.skip : it)(
    `a worker terminated mid-lookup, then a terminate()d session: the late answers crash nothing${skip ? ` (skipped: ${privateResolvConf.why})` : ''}`,
    async () => {
      expect(privateResolvConf.ok, privateResolvConf.why).toBe(true);
      const dns = await startHangingDns();
      cleanups.push(() => dns.close());
      const echo = await startWsServer({ echo: true, defaultTimeoutMs: STAGE_MS });
      cleanups.push(() => echo.close());
      const [command, args] = dns.wrap(process.execPath, [
        join(FIXTURES, 'resolve-late.cjs'),
        `ws://${HANGING_NAME}:${echo.port}/`,
        echo.url,
      ]);
      const child = new ChildRun(command, args);
      const pid = child.proc.pid as number;
      await child.waitLine('ready', STAGE_MS);

      /** Terminates mid-lookup, then answers it and waits for the lookup's thread to end. */
      const lateAnswer = async (who: 'worker' | 'main'): Promise<void> => {
        child.send('go');
        await child.waitLine(`${who}-connecting`, STAGE_MS);
        expect((await dns.queries.next(STAGE_MS)).name).toBe(HANGING_NAME);
        child.send('go');
        const line = await child.waitLine(new RegExp(`^${who}-terminated \\d+`), STAGE_MS);
        const withLookup = Number(line.split(' ')[1]);
        // The lookup's thread is still there (glibc would wait 150 s for an answer)...
        expect(threadsOf(pid)).toBe(withLookup);
        // ...until it gets one.
        dns.answerAll('127.0.0.1');
        await waitFor(() => threadsOf(pid) < withLookup, STAGE_MS, { intervalMs: 10, label: `${who} lookup thread to end` });
        dns.hang();
      };
      await lateAnswer('worker');
      expect(child.outputLines.find((l) => l.startsWith('worker-terminated'))).toMatch(/ \(exit code 1\)$/);
      await lateAnswer('main');

      // The process still works, and ends by itself.
      child.send('go');
      const result = await child.waitExit(STAGE_MS);
      expectExit(result, 0, null);
      expect(child.outputLines).toContain('echoed still works');
    },
    30_000,
  );
});
