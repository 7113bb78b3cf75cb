/**
 * The outgoing queue of a session: what send() does while the session is not
 * open (first connect, reconnecting), onOpen's place before the backlog,
 * the queue bounds and overflow policies, ttl, close() while queued, and the
 * accounting (bufferedAmount, stats()).
 *
 * "Down" here means the server refuses upgrades with 503 after dropping the
 * connection: the session keeps reconnecting (and failing) until the test
 * lets it in again, so the queue is observed while the session is not open.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { startSeqServer, until, type SeqServer } from './helpers/seq-server';
import { endAfterEach, once, waitFor, withTimeout } from './helpers/wait';
import {
  connect,
  WebSocketClient,
  WebSocketError,
  type ConnectOptions,
  type DisconnectInfo,
  type DropInfo,
  type ReconnectingInfo,
} from './lib';

const T = 5000;
const { clients, servers } = endAfterEach<WebSocketClient, SeqServer>();

async function server(options: Parameters<typeof startSeqServer>[0] = {}): Promise<SeqServer> {
  const s = await startSeqServer(options);
  servers.push(s);
  return s;
}

/** A session with fast reconnects and no heartbeat (the tests drive every loss). */
function session(url: string, options: ConnectOptions = {}): WebSocketClient {
  const c = connect(url, { reconnect: { backoffMs: [20], jitterPercent: 1 }, heartbeat: false, ...options });
  clients.push(c);
  return c;
}

function drops(c: WebSocketClient): DropInfo[] {
  const out: DropInfo[] = [];
  c.on('drop', (d) => out.push(d));
  return out;
}

/** Takes the server down for this session: new upgrades get 503, the open connection is dropped. */
async function goDown(c: WebSocketClient, srv: SeqServer): Promise<void> {
  // 'error' events (the 503s) are expected meanwhile: not a reason to stop waiting.
  const reconnecting = once<[ReconnectingInfo]>(c, 'reconnecting', T, { rejectOnError: false });
  srv.refuse(503);
  srv.terminateAll();
  await reconnecting;
  expect(c.readyState).toBe(WebSocketClient.CONNECTING);
  expect(c.state).not.toBe('open');
}

/** Lets the session in again and waits for it to open. */
async function comeBack(c: WebSocketClient, srv: SeqServer): Promise<void> {
  const opened = once(c, 'open', T, { rejectOnError: false });
  srv.refuse(false);
  await opened;
}

function texts(srv: SeqServer, conn?: number): string[] {
  return srv.received.filter((r) => conn === undefined || r.conn === conn).map((r) => r.data);
}

function range(from: number, to: number, f: (i: number) => string = String): string[] {
  const out: string[] = [];
  for (let i = from; i < to; i++) out.push(f(i));
  return out;
}

describe('queued messages across reconnections', () => {
  it('loses, duplicates and reorders nothing across 100 forced disconnects', async () => {
    const DISCONNECTS = 100;
    const BATCH = 3;
    // Each connection is dropped (TCP, no Close) once it received one batch.
    const srv = await server({ terminateAfter: BATCH });
    const c = session(srv.url, { reconnect: { backoffMs: [5], jitterPercent: 1 } });
    let seq = 0;
    let disconnects = 0;
    let opens = 0;
    const causes = new Set<string>();
    const dropped = drops(c);
    c.on('open', () => opens++);
    c.on('disconnect', (d: DisconnectInfo) => {
      disconnects++;
      causes.add(d.cause);
      // The connection is gone: these wait in the native queue for the next one.
      if (disconnects <= DISCONNECTS) for (let k = 0; k < BATCH; k++) c.send(`${seq++}`);
    });

    await withTimeout(c.opened, T, 'first open');
    srv.terminateAll(); // the first loss; the server drops every later connection itself
    // disconnect #101 follows the last batch's delivery: nothing is in flight after it.
    await until(c, 'disconnect', () => disconnects > DISCONNECTS, 20_000, `${DISCONNECTS + 1} disconnects`);
    expect(seq).toBe(DISCONNECTS * BATCH);
    expect(c.stats().queueDepth).toBe(0);
    await withTimeout(c.close(), T, 'close()');

    expect(dropped).toEqual([]);
    expect(texts(srv)).toEqual(range(0, DISCONNECTS * BATCH));
    // Each batch was written once, whole, on the connection after its loss.
    for (let b = 0; b < DISCONNECTS; b++) {
      expect(srv.conns[b + 1]?.messages, `connection ${b + 2}`).toEqual(range(b * BATCH, (b + 1) * BATCH));
    }
    expect(srv.conns[0]?.messages).toEqual([]);
    expect(opens).toBeGreaterThanOrEqual(DISCONNECTS + 1);
    expect([...causes]).toEqual(['network']);
  }, 30_000);

  it('flushes messages sent before the first open, in order, after it', async () => {
    const srv = await server();
    const c = session(srv.url);
    expect(c.readyState).toBe(WebSocketClient.CONNECTING);
    const sent = range(0, 50, (i) => `early-${i}`);
    for (const m of sent) c.send(m);
    expect(c.bufferedAmount).toBe(sent.reduce((n, m) => n + Buffer.byteLength(m), 0));
    await until(srv, 'message', () => srv.received.length >= sent.length, T, '50 messages');
    expect(texts(srv)).toEqual(sent);
    expect(srv.conns).toHaveLength(1);
  });
});

describe('onOpen', () => {
  it('runs (async) before the backlog on the first open and again after a reconnect', async () => {
    // onOpen waits for a token the server sends only once onOpen has started
    // (a round trip in which a premature flush of the backlog would show),
    // then authenticates with it.
    const srv = await server();
    const calls: Array<{ reconnected: boolean; reason: string }> = [];
    const hooks = new EventEmitter();
    let c!: WebSocketClient;
    c = session(srv.url, {
      onOpen: async (s) => {
        calls.push({ reconnected: s.reconnected, reason: s.reason });
        const token = once<[string]>(c, 'message', T);
        hooks.emit('started');
        const [t] = await token;
        s.send(`auth:${t}`);
        s.send('auth-done');
      },
    });
    c.send('q1');
    c.send('q2');
    const started1 = once(hooks, 'started', T);
    await withTimeout(c.opened, T, 'first open');
    c.send('q3'); // open, but onOpen has not finished: still behind it
    await started1;
    srv.conns[0]!.ws.send('token-1');
    await until(srv, 'message', () => texts(srv, 1).length >= 5, T, 'first connection messages');
    expect(texts(srv, 1)).toEqual(['auth:token-1', 'auth-done', 'q1', 'q2', 'q3']);

    // Down, queue more, back: onOpen again, first again.
    await goDown(c, srv);
    c.send('q4');
    c.send('q5');
    const started2 = once(hooks, 'started', T);
    await comeBack(c, srv);
    await started2;
    const second = srv.conns[srv.conns.length - 1]!;
    second.ws.send('token-2');
    await until(srv, 'message', () => second.messages.length >= 4, T, 'second connection messages');
    expect(second.messages).toEqual(['auth:token-2', 'auth-done', 'q4', 'q5']);
    expect(calls).toEqual([
      { reconnected: false, reason: 'open' },
      { reconnected: true, reason: 'open' },
    ]);
  });

  it('fails the attempt when it throws, reconnects and runs it again', async () => {
    const srv = await server();
    let calls = 0;
    const c = session(srv.url, {
      onOpen: (s) => {
        calls++;
        if (calls === 1) throw new Error('no token yet');
        s.send(`auth-${calls}`);
      },
    });
    const errors: WebSocketError[] = [];
    c.on('error', (e) => errors.push(e));
    const disconnect = once<[DisconnectInfo]>(c, 'disconnect', T, { rejectOnError: false });
    const reconnecting = once<[ReconnectingInfo]>(c, 'reconnecting', T, { rejectOnError: false });
    c.send('queued');
    const [d] = await disconnect;
    const [r] = await reconnecting;
    expect(d.cause).toBe('config');
    expect(r.cause).toBe('config');
    expect(errors.map((e) => e.code)).toContain('ERR_ON_OPEN');
    expect(c.lastError?.code).toBe('ERR_ON_OPEN');

    await until(srv, 'message', () => srv.received.length >= 2, T, 'messages after the retry');
    expect(calls).toBe(2);
    expect(srv.conns.length).toBeGreaterThanOrEqual(2);
    // Nothing went out on the connection whose onOpen failed.
    expect(srv.conns[0]!.messages).toEqual([]);
    expect(texts(srv, 2)).toEqual(['auth-2', 'queued']);
    expect(c.state).toBe('open');
  });
});

describe('queue bounds', () => {
  it("'reject': send() beyond maxMessages throws ERR_QUEUE_FULL while down, never while open", async () => {
    const srv = await server();
    const c = session(srv.url, { queue: { maxMessages: 5, overflow: 'reject' } });
    await withTimeout(c.opened, T, 'open');
    await goDown(c, srv);
    for (let i = 0; i < 5; i++) c.send(`m${i}`);
    let thrown: unknown;
    try {
      c.send('m5');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(WebSocketError);
    expect((thrown as WebSocketError).code).toBe('ERR_QUEUE_FULL');
    expect(() => c.send('m6')).toThrow(expect.objectContaining({ code: 'ERR_QUEUE_FULL' }));
    expect(c.stats().queueDepth).toBe(5);

    await comeBack(c, srv);
    const conn = srv.conns[srv.conns.length - 1]!.id;
    await until(srv, 'message', () => texts(srv, conn).length >= 5, T, 'the 5 queued messages');
    expect(texts(srv, conn)).toEqual(range(0, 5, (i) => `m${i}`));

    // Open: the queue bounds do not apply.
    expect(c.state).toBe('open');
    const burst = range(0, 50, (i) => `open-${i}`);
    for (const m of burst) c.send(m);
    await until(srv, 'message', () => texts(srv, conn).length >= 55, T, 'the burst');
    expect(texts(srv, conn).slice(5)).toEqual(burst);
  });

  it("'reject': send() beyond maxBytes throws ERR_QUEUE_FULL while down", async () => {
    const srv = await server();
    const c = session(srv.url, { queue: { maxBytes: 100, overflow: 'reject' } });
    await withTimeout(c.opened, T, 'open');
    await goDown(c, srv);
    c.send('a'.repeat(60));
    c.send(Buffer.alloc(40, 0x62), { binary: false });
    expect(() => c.send('c')).toThrow(expect.objectContaining({ name: 'WebSocketError', code: 'ERR_QUEUE_FULL' }));
    expect(c.stats().queueBytes).toBe(100);

    await comeBack(c, srv);
    const conn = srv.conns[srv.conns.length - 1]!.id;
    await until(srv, 'message', () => texts(srv, conn).length >= 2, T, 'the 2 queued messages');
    expect(texts(srv, conn)).toEqual(['a'.repeat(60), 'b'.repeat(40)]);
    const big = 'd'.repeat(1000); // larger than maxBytes, but open
    expect(() => c.send(big)).not.toThrow();
    await until(srv, 'message', () => texts(srv, conn).length >= 3, T, 'the large message');
    expect(texts(srv, conn)[2]).toBe(big);
  });

  it("'drop-oldest': drops the oldest with reason 'overflow'; the newest maxMessages are sent in order", async () => {
    const srv = await server();
    const c = session(srv.url, { queue: { maxMessages: 3, overflow: 'drop-oldest' } });
    const dropped = drops(c);
    await withTimeout(c.opened, T, 'open');
    await goDown(c, srv);
    for (let i = 0; i < 10; i++) expect(c.send(`m${i}`)).toBe(true);
    await until(c, 'drop', () => dropped.length >= 7, T, '7 drops');
    expect(dropped.map((d) => [d.data, d.isBinary, d.reason])).toEqual(
      range(0, 7).map((i) => [`m${i}`, false, 'overflow']),
    );
    expect(c.stats().queueDepth).toBe(3);

    await comeBack(c, srv);
    const conn = srv.conns[srv.conns.length - 1]!.id;
    await until(srv, 'message', () => texts(srv, conn).length >= 3, T, 'the kept messages');
    expect(texts(srv, conn)).toEqual(['m7', 'm8', 'm9']);
    expect(dropped).toHaveLength(7);
  });

  it("'drop-newest': drops the newest with reason 'overflow'; the oldest maxMessages are sent in order", async () => {
    const srv = await server();
    const c = session(srv.url, { queue: { maxMessages: 3, overflow: 'drop-newest' } });
    const dropped = drops(c);
    await withTimeout(c.opened, T, 'open');
    await goDown(c, srv);
    for (let i = 0; i < 10; i++) c.send(Buffer.from([i]));
    await until(c, 'drop', () => dropped.length >= 7, T, '7 drops');
    expect(dropped.map((d) => [[...(d.data as Buffer)], d.isBinary, d.reason])).toEqual(
      range(3, 10).map((i) => [[Number(i)], true, 'overflow']),
    );

    await comeBack(c, srv);
    const conn = srv.conns[srv.conns.length - 1]!;
    await until(srv, 'message', () => conn.messages.length >= 3, T, 'the kept messages');
    expect(conn.messages.map((m) => [...Buffer.from(m)])).toEqual([[0], [1], [2]]);
    expect(dropped).toHaveLength(7);
  });

  it("ttlMs: messages older than the ttl at the next open are dropped with 'expired', fresh ones are sent", async () => {
    const TTL = 150;
    const srv = await server();
    const c = session(srv.url, { queue: { ttlMs: TTL } });
    const dropped = drops(c);
    await withTimeout(c.opened, T, 'open');
    await goDown(c, srv);
    c.send('stale-1');
    c.send('stale-2');
    const queuedAt = performance.now();
    // Not synchronisation: the condition under test is that this much time has passed.
    await waitFor(() => performance.now() - queuedAt > TTL + 100, T, { label: 'the ttl to elapse' });
    c.send('fresh-1');
    c.send('fresh-2');
    await comeBack(c, srv);
    const conn = srv.conns[srv.conns.length - 1]!.id;
    await until(srv, 'message', () => texts(srv, conn).length >= 2, T, 'the fresh messages');
    expect(texts(srv, conn)).toEqual(['fresh-1', 'fresh-2']);
    expect(dropped.map((d) => [d.data, d.reason])).toEqual([
      ['stale-1', 'expired'],
      ['stale-2', 'expired'],
    ]);
    expect(texts(srv)).not.toContain('stale-1');
    expect(texts(srv)).not.toContain('stale-2');
  });
});

describe('close() and accounting', () => {
  it("close() while reconnecting drops what is queued with reason 'closed' and resolves", async () => {
    const srv = await server();
    const c = session(srv.url);
    const dropped = drops(c);
    const order: string[] = [];
    c.on('drop', () => order.push('drop'));
    c.on('close', () => order.push('close'));
    await withTimeout(c.opened, T, 'open');
    await goDown(c, srv);
    c.send('x1');
    c.send(Buffer.from('x2'));
    c.send('x3');
    await withTimeout(c.close(), T, 'close()');
    expect(c.readyState).toBe(WebSocketClient.CLOSED);
    expect(dropped.map((d) => [String(d.data), d.isBinary, d.reason])).toEqual([
      ['x1', false, 'closed'],
      ['x2', true, 'closed'],
      ['x3', false, 'closed'],
    ]);
    expect(order).toEqual(['drop', 'drop', 'drop', 'close']);
    expect(c.bufferedAmount).toBe(0);
    expect(c.stats().queueDepth).toBe(0);
    expect(() => c.send('late')).toThrow(expect.objectContaining({ code: 'ERR_NOT_OPEN' }));
    expect(texts(srv)).toEqual([]);
  });

  it('bufferedAmount and stats() show the queue while down, and fall to 0 once it is flushed', async () => {
    const srv = await server();
    const c = session(srv.url);
    await withTimeout(c.opened, T, 'open');
    expect(c.bufferedAmount).toBe(0);
    await goDown(c, srv);
    c.send('0123456789');
    c.send('abcdefghij');
    c.send(Buffer.alloc(5));
    c.send(new Uint8Array(20));
    expect(c.bufferedAmount).toBe(45);
    expect(c.stats().queueDepth).toBe(4);
    expect(c.stats().queueBytes).toBe(45);

    await comeBack(c, srv);
    const conn = srv.conns[srv.conns.length - 1]!;
    await until(srv, 'message', () => conn.messages.length >= 4, T, 'the 4 queued messages');
    // 'Sent' accounting reaches JS asynchronously: no event to await for it.
    await waitFor(() => c.bufferedAmount === 0, T, { label: 'bufferedAmount 0' });
    const s = c.stats();
    expect(s.queueDepth).toBe(0);
    expect(s.queueBytes).toBe(0);
    expect(s.messagesOut).toBe(4);
    expect(s.bytesOut).toBe(45);
  });
});

describe('send() callbacks', () => {
  /** Records each callback's outcome under its label. */
  function outcomes(): { log: Array<[string, string]>; cb: (label: string) => (err?: Error) => void } {
    const log: Array<[string, string]> = [];
    return {
      log,
      cb: (label) => (err) => log.push([label, err ? (err as WebSocketError).code : 'written']),
    };
  }

  it('are called once each message is written, in order, also for messages sent before the first open', async () => {
    const srv = await server();
    const c = session(srv.url);
    const { log, cb } = outcomes();
    c.send('a', cb('a'));
    c.send('no callback');
    c.send(Buffer.from('b'), { binary: true }, cb('b'));
    await withTimeout(c.opened, T, 'open');
    c.send('c', {}, cb('c'));
    // Callbacks run when the service thread reports the writes: no event to await.
    await waitFor(() => log.length === 3, T, { label: 'three callbacks' });
    expect(log).toEqual([
      ['a', 'written'],
      ['b', 'written'],
      ['c', 'written'],
    ]);
    expect(texts(srv)).toEqual(['a', 'no callback', 'b', 'c']);
  });

  it("say which queued messages were dropped ('drop-oldest', then 'drop-newest'); the others are written after the reconnect", async () => {
    for (const overflow of ['drop-oldest', 'drop-newest'] as const) {
      const srv = await server();
      const c = session(srv.url, { queue: { maxMessages: 2, overflow } });
      const { log, cb } = outcomes();
      await withTimeout(c.opened, T, 'open');
      await goDown(c, srv);
      c.send('m0');
      for (let i = 1; i < 5; i++) c.send(`m${i}`, cb(`m${i}`));
      await comeBack(c, srv);
      await waitFor(() => log.length === 4, T, { label: `four callbacks (${overflow})` });
      const kept = overflow === 'drop-oldest' ? ['m3', 'm4'] : ['m0', 'm1'];
      expect(Object.fromEntries(log)).toEqual(
        Object.fromEntries(range(1, 5).map((i) => [`m${i}`, kept.includes(`m${i}`) ? 'written' : 'ERR_MESSAGE_DROPPED'])),
      );
      // Written ones in their order.
      expect(log.filter(([, r]) => r === 'written').map(([l]) => l)).toEqual(kept.filter((m) => m !== 'm0'));
      const conn = srv.conns[srv.conns.length - 1]!.id;
      await until(srv, 'message', () => texts(srv, conn).length >= 2, T, 'the kept messages');
      expect(texts(srv, conn)).toEqual(kept);
      // Drops are not counted as written.
      await waitFor(() => c.bufferedAmount === 0, T, { label: 'bufferedAmount 0' });
      expect(c.stats().messagesOut).toBe(2);
    }
  });

  it('get ERR_MESSAGE_DROPPED when close() ends the session with them queued', async () => {
    const srv = await server();
    const c = session(srv.url);
    const { log, cb } = outcomes();
    await withTimeout(c.opened, T, 'open');
    await goDown(c, srv);
    c.send('x1', cb('x1'));
    c.send('x2', cb('x2'));
    await withTimeout(c.close(), T, 'close()');
    expect(log).toEqual([
      ['x1', 'ERR_MESSAGE_DROPPED'],
      ['x2', 'ERR_MESSAGE_DROPPED'],
    ]);
    expect(c.stats().messagesOut).toBe(0);
  });

  it('must be functions', () => {
    const c = session('ws://127.0.0.1:1/');
    expect(() => c.send('x', {}, 5 as unknown as () => void)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe("onOpen's sends when their connection dies", () => {
  it('come back as drops (reason closed) instead of vanishing', async () => {
    // The server stops reading, so onOpen's two 16 MiB messages cannot both
    // fit the socket buffers; then it drops the connection under them.
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    servers.push({ close: () => new Promise<void>((r) => wss.close(() => r())) } as SeqServer);
    await once(wss, 'listening', T);
    const sockets: import('node:net').Socket[] = [];
    wss.on('connection', (ws) => {
      const socket = (ws as unknown as { _socket: import('node:net').Socket })._socket;
      socket.pause();
      sockets.push(socket);
    });
    const big = [Buffer.alloc(16 << 20, 1), Buffer.alloc(16 << 20, 2)];
    const hooks = new EventEmitter();
    const { port } = wss.address() as import('node:net').AddressInfo;
    const c = session(`ws://127.0.0.1:${port}/`, {
      reconnect: false,
      perMessageDeflate: false,
      onOpen: (s) => {
        for (const b of big) s.send(b);
        hooks.emit('sent');
      },
    });
    const dropped = drops(c);
    const sent = once(hooks, 'sent', T);
    await withTimeout(c.opened, T, 'open');
    await sent;
    await waitFor(() => sockets.length === 1, T, { label: 'server connection' });
    const closed = once(c, 'close', T, { rejectOnError: false });
    sockets[0]!.destroy();
    await closed;
    // The second cannot have been written whole; whatever was not is dropped.
    expect(dropped.map((d) => d.reason)).not.toContain('overflow');
    expect(dropped.every((d) => d.reason === 'closed' && d.isBinary)).toBe(true);
    expect(dropped.map((d) => (d.data as Buffer)[0])).toContain(2);
  });
});
