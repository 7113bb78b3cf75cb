/**
 * Process lifecycle: child processes (test/fixtures/lifecycle-*.cjs) that use
 * the built package and leave at every stage of a connection, in every way a
 * Node process can leave. The servers run here; their URL goes to the child
 * in argv. A child that does not exit in time is SIGKILLed and the test fails.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ChildRun, exitOutcome, killAll, runFixture, type ChildResult } from './helpers/child';
import { Opcode } from './helpers/frames';
import { startRawServer, type RawServer } from './helpers/raw-server';
import { startWsServer, type WsConnection, type WsServer } from './helpers/ws-server';

/** Budget for a child to exit once it has been told to (or has no reason to live). */
const EXIT_MS = 10_000;
/** Budget for a child to reach a stage (start-up includes loading the addon). */
const STAGE_MS = 10_000;

const servers: Array<WsServer | RawServer> = [];

afterEach(async () => {
  await killAll();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function wsServer(echo = true): Promise<WsServer> {
  const s = await startWsServer({ echo, defaultTimeoutMs: STAGE_MS });
  servers.push(s);
  return s;
}

/** A server that reads the upgrade request and then never answers. */
async function silentServer(): Promise<RawServer> {
  const s = await startRawServer(null, { defaultTimeoutMs: STAGE_MS });
  servers.push(s);
  return s;
}

/** Accepts the upgrade, then never answers anything (no Close echo). */
async function acceptOnlyServer(): Promise<RawServer> {
  const s = await startRawServer((conn) => conn.accept(), { defaultTimeoutMs: STAGE_MS });
  servers.push(s);
  return s;
}

/** Exit code, signal and any crash text on stderr, checked in one assertion. */
function expectExit(result: ChildResult, code: number | null, signal: NodeJS.Signals | null = null, note = ''): void {
  expect(exitOutcome(result), `${note}stderr:\n${result.stderr}\nstdout:\n${result.stdout}`).toEqual({
    code,
    signal,
    crashText: null,
  });
}

function expectCleanExit(result: ChildResult): void {
  expectExit(result, 0);
}

type Stage = 'created' | 'connecting' | 'open' | 'closing';
type How = 'unref' | 'exit' | 'throw' | 'sigterm';

const STAGES: readonly Stage[] = ['created', 'connecting', 'open', 'closing'];
const HOWS: readonly How[] = ['unref', 'exit', 'throw', 'sigterm'];
/** readyState the child must report when it acts (created acts in connect()'s tick). */
const STATE_AT: Record<Stage, number> = { created: 0, connecting: 0, open: 1, closing: 2 };

/**
 * Runs per case. Exits race with the service thread (most of all right after
 * connect(), while it is still starting), so each case is repeated to make a
 * race show up as a failure rather than pass by luck.
 */
const REPEATS: Record<Stage, number> = { created: 10, connecting: 2, open: 2, closing: 2 };

async function leaveAtStage(server: WsServer | RawServer, stage: Stage, how: How, run: number): Promise<void> {
  const child = runFixture('lifecycle-stage.cjs', [server.url, stage, how]);
  await child.waitLine('ready', STAGE_MS);

  // Confirm the stage from the server side before acting.
  if (stage === 'connecting') {
    const conn = await (server as RawServer).nextConnection(STAGE_MS);
    expect(conn.request.headers.upgrade?.toLowerCase()).toBe('websocket');
  } else if (stage === 'open') {
    await (server as WsServer).nextConnection(STAGE_MS);
  } else if (stage === 'closing') {
    const conn = await (server as RawServer).nextConnection(STAGE_MS);
    const frame = await conn.nextFrame(STAGE_MS);
    expect(frame.opcode).toBe(Opcode.Close);
    expect(frame.payload.readUInt16BE(0)).toBe(1000);
  }

  if (how === 'sigterm') child.kill('SIGTERM');
  else if (stage !== 'created') child.send('go'); // created acted in connect()'s tick
  const result = await child.waitExit(EXIT_MS);

  const note = `run ${run + 1}/${REPEATS[stage]}; `;
  if (how === 'sigterm') {
    expectExit(result, null, 'SIGTERM', note);
    return;
  }
  if (how === 'throw') {
    expectExit(result, 1, null, note);
    expect(result.stderr).toContain(`Error: boom at ${stage}`);
  } else {
    expectExit(result, 0, null, note);
  }
  expect(child.outputLines, note).toContain(`state ${STATE_AT[stage]}`);
}

describe('a child process leaves at every stage of a connection', () => {
  describe.each(STAGES)('stage %s', (stage) => {
    it.each(HOWS)('by %s', async (how) => {
      let server: WsServer | RawServer;
      if (stage === 'connecting') server = await silentServer();
      else if (stage === 'closing') server = await acceptOnlyServer();
      else server = await wsServer();
      for (let run = 0; run < REPEATS[stage]; run++) await leaveAtStage(server, stage, how, run);
    });
  });
});

describe('uncaught exceptions from client event listeners', () => {
  it.each([
    ['throw-in-open', 'boom in open listener'],
    ['throw-in-message', 'boom in message listener'],
  ])('%s: exit code 1 with the message on stderr', async (mode, message) => {
    const server = await wsServer();
    const child = runFixture('lifecycle-conversation.cjs', [server.url, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    const result = await child.waitExit(EXIT_MS);
    expectExit(result, 1);
    expect(result.stderr).toContain(`Error: ${message}`);
  });
});

/** Server side for lifecycle-conversation.cjs: answers 'more' with msg1, msg2, ... */
function serveMessages(conn: WsConnection): { echoes: () => Promise<string> } {
  let n = 0;
  const echoes: string[] = [];
  const waiters: Array<(s: string) => void> = [];
  conn.ws.on('message', (data) => {
    const text = data.toString();
    if (text === 'more') conn.ws.send(`msg${++n}`);
    else if (text.startsWith('echo:')) {
      const w = waiters.shift();
      if (w) w(text);
      else echoes.push(text);
    }
  });
  return {
    echoes: () =>
      new Promise<string>((resolve, reject) => {
        const ready = echoes.shift();
        if (ready !== undefined) return resolve(ready);
        const timer = setTimeout(() => reject(new Error('no echo from the child')), STAGE_MS);
        waiters.push((s) => {
          clearTimeout(timer);
          resolve(s);
        });
      }),
  };
}

/** Send 'echo:<tag>' to the child and await it back: proves its JS is alive and listening. */
async function roundTrip(conn: WsConnection, served: { echoes: () => Promise<string> }, tag: string): Promise<void> {
  const back = served.echoes();
  conn.ws.send(`echo:${tag}`);
  expect(await back).toBe(`echo:${tag}`);
}

describe('the connection alone decides whether the process lives', () => {
  it('a child that opens, echoes a message and closes exits by itself with 0', async () => {
    const server = await wsServer();
    const child = runFixture('lifecycle-conversation.cjs', [server.url, 'echo-once'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const conn = await server.nextConnection(STAGE_MS);
    expect((await conn.nextMessage(STAGE_MS)).data.toString()).toBe('hello');
    const result = await child.waitExit(EXIT_MS);
    expectCleanExit(result);
    expect(child.outputLines).toEqual(['open', 'got hello', 'close 1000 done']);
    expect(await conn.waitClose(STAGE_MS)).toEqual({ code: 1000, reason: 'done' });
  });

  it.each([
    ['a closing handshake', 'close', 'close 1000 server bye'],
    ['dropping TCP', 'terminate', 'close 1006 '],
  ])(
    'a child that never closes stays alive (3 messages on request) until the server ends it by %s',
    async (_label, how, closeLine) => {
      const server = await wsServer(false);
      const child = runFixture('lifecycle-conversation.cjs', [server.url, 'stay-open'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const conn = await server.nextConnection(STAGE_MS);
      const served = serveMessages(conn);
      await child.waitLine('got-3', STAGE_MS);
      expect(child.outputLines.filter((l) => l.startsWith('got msg'))).toEqual(['got msg1', 'got msg2', 'got msg3']);
      // Each request above was a round trip with nothing but the connection
      // holding the child's loop; one more, driven from this side, then check.
      await roundTrip(conn, served, 'still-there');
      expect(child.alive).toBe(true);

      if (how === 'close') conn.ws.close(1000, 'server bye');
      else conn.ws.terminate();
      const result = await child.waitExit(EXIT_MS);
      expectCleanExit(result);
      expect(child.outputLines).toContain(closeLine);
      // The close event came before the exit, and nothing after it.
      expect(child.outputLines.at(-1)?.startsWith('close ')).toBe(true);
    },
  );
});

describe('unref() and ref()', () => {
  it('unref() on an open connection lets the child exit by itself with 0', async () => {
    const server = await wsServer();
    const child = runFixture('lifecycle-conversation.cjs', [server.url, 'unref-on-open'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const conn = await server.nextConnection(STAGE_MS);
    const result = await child.waitExit(EXIT_MS);
    expectCleanExit(result);
    expect(child.outputLines).toContain('open');
    // The process is gone, so the server sees the TCP connection end.
    expect((await conn.waitClose(STAGE_MS)).code).toBe(1006);
  });

  it.each([
    ['in the open listener', 'unref-ref'],
    ['from a later tick, while connecting', 'unref-ref-later'],
  ])('ref() after unref() %s keeps the child alive until the server closes', async (_label, mode) => {
    const server = await wsServer(false);
    const child = runFixture('lifecycle-conversation.cjs', [server.url, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    const conn = await server.nextConnection(STAGE_MS);
    const served = serveMessages(conn);
    await child.waitLine('ready', STAGE_MS);
    for (let i = 0; i < 3; i++) await roundTrip(conn, served, String(i));
    expect(child.alive).toBe(true);

    conn.ws.close(1000, 'enough');
    const result = await child.waitExit(EXIT_MS);
    expectCleanExit(result);
    expect(child.outputLines.at(-1)).toBe('close 1000 enough');
  });
});

describe('clients dropped without close() and garbage-collected (--expose-gc)', () => {
  const gcChild = (url: string, mode: string, count = 1): ChildRun =>
    runFixture('lifecycle-gc.cjs', [url, mode, String(count)], {
      nodeArgs: ['--expose-gc'],
      stdio: ['ignore', 'pipe', 'pipe'],
    });

  it('unref()ed and dropped: no crash, the process exits by itself with 0', async () => {
    const server = await wsServer();
    const child = gcChild(server.url, 'unref', 20);
    const result = await child.waitExit(EXIT_MS);
    expectCleanExit(result);
    expect(child.outputLines).toContain('gc-done');
  });

  it('dropped while open: stays alive through gc, exits by itself with 0 once the server closes', async () => {
    const server = await wsServer(false);
    const child = gcChild(server.url, 'server-closes');
    const conn = await server.nextConnection(STAGE_MS);
    await child.waitLine('gc-done', STAGE_MS);
    expect(child.alive).toBe(true);
    // Still served by the client after the collections: a ping is answered.
    const pong = new Promise<void>((resolve) => conn.ws.once('pong', () => resolve()));
    conn.ws.ping('after-gc');
    await pong;

    conn.ws.close(1000, 'bye');
    const result = await child.waitExit(EXIT_MS);
    expectCleanExit(result);
    expect(child.outputLines).toContain('close 1000');
    expect(child.outputLines).toContain('gc-after-close');
  });

  it('dropped clients closed by the server are garbage-collected, and the process exits with 0', async () => {
    const count = 10;
    const server = await wsServer(false);
    const child = gcChild(server.url, 'collect', count);
    const conns: WsConnection[] = [];
    for (let i = 0; i < count; i++) conns.push(await server.nextConnection(STAGE_MS));
    for (const c of conns) c.ws.close(1000);
    const result = await child.waitExit(EXIT_MS);
    expectCleanExit(result);
    expect(child.outputLines).toContain('all-closed');
    expect(child.outputLines).toContain(`collected ${count}/${count}`);
  });
});

describe('ESM entry', () => {
  it('import { connect } from dist/esm/index.mjs connects and echoes', async () => {
    const server = await wsServer();
    const child = runFixture('lifecycle-esm.mjs', [server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    const result = await child.waitExit(EXIT_MS);
    expectCleanExit(result);
    const line = child.outputLines.find((l) => l.startsWith('{'));
    expect(line, result.stdout).toBeDefined();
    const parsed = JSON.parse(line as string) as Record<string, unknown>;
    expect(parsed).toEqual({
      received: [{ text: 'esm text' }, { binary: 'deadbeef' }],
      code: 1000,
      reason: 'esm done',
      isClient: true,
      sameAsCjs: true,
      defaultHasConnect: true,
      lwsVersion: expect.stringMatching(/^\d+\.\d+/),
    });
  });
});
