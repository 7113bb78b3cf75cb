/**
 * Limits that cap what a server can make a connection hold (README, "Limits
 * on what a server can make us hold"): maxPayload, the receive high-water
 * mark, the size of the response head and its number of headers. Each limit
 * must end the attempt or connection with a typed error within bounded time,
 * not hang or grow.
 *
 * maxPayload's basic cases (exactly maxPayload accepted; one byte over, in
 * one frame or across fragments, closes 1009) are in protocol.test.ts
 * ('maxPayload'); the receive buffer's crash fix in fuzz-found.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { constants as zlib, deflateRawSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { connectOnce, type ConnectOptions, type WebSocketClient, type WebSocketError } from './lib';
import { killAll, runFixture } from './helpers/child';
import * as F from './helpers/frames';
import { Opcode, parseClose } from './helpers/frames';
import { computeAccept, startRawServer, type RawConnection, type RawServer } from './helpers/raw-server';
import { once, waitFor, withTimeout } from './helpers/wait';

const T = 5000;
const MiB = 1024 * 1024;
const clients: WebSocketClient[] = [];
const servers: RawServer[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await killAll();
});

async function rawServer(): Promise<RawServer> {
  const server = await startRawServer(null, { defaultTimeoutMs: T });
  servers.push(server);
  return server;
}

function client(url: string, options: ConnectOptions = {}): { c: WebSocketClient; errors: WebSocketError[]; closed: Promise<[number, string]> } {
  const c = connectOnce(url, options);
  clients.push(c);
  const errors: WebSocketError[] = [];
  c.on('error', (e) => errors.push(e));
  c.opened.catch(() => undefined);
  return { c, errors, closed: once<[number, string]>(c, 'close', 3 * T, { rejectOnError: false }) };
}

/** The client's next Close frame (skipping pongs), as {code}. */
async function nextClose(conn: RawConnection): Promise<number | undefined> {
  for (;;) {
    const frame = await conn.nextFrame(T);
    if (frame.opcode === Opcode.Close) return parseClose(frame.payload).code;
  }
}

describe('maxPayload: a declared length over the limit fails before the payload is buffered', () => {
  // The server sends the header and 4 KiB of payload, then waits: without
  // the check on the declared length the client would wait for 100 MiB
  // (default maxPayload) or 1 TiB and never send its Close. lws hands
  // payload over when its 2 KiB receive buffer fills or the frame ends, so
  // the check runs at the first 2 KiB.
  async function expectEarly1009(frames: Buffer[], options: ConnectOptions = {}): Promise<void> {
    const server = await rawServer();
    const { c, errors, closed } = client(server.url, { perMessageDeflate: false, ...options });
    const conn = await server.nextConnection(T);
    conn.accept();
    await withTimeout(c.opened, T, 'opened');
    for (const f of frames) conn.write(f);
    expect(await nextClose(conn)).toBe(1009);
    conn.write(F.close(1009));
    conn.end();
    expect((await closed)[0]).toBe(1009);
    expect(errors.map((e) => e.code)).toEqual(['ERR_MESSAGE_TOO_BIG']);
  }

  it('a frame declaring 2^40 bytes (default maxPayload, 100 MiB) carrying 4 KiB', async () => {
    await expectEarly1009([F.binary(Buffer.alloc(4096, 1), { declaredLength: 2n ** 40n, lengthBits: 64 })]);
  });

  it('a text frame declaring maxPayload + 1 bytes carrying 4 KiB', async () => {
    await expectEarly1009([F.text('x'.repeat(4096), { declaredLength: 100_001 })], { maxPayload: 100_000 });
  });

  it('a continuation declaring more than what is left of maxPayload', async () => {
    await expectEarly1009(
      [F.text('x'.repeat(60_000), { fin: false }), F.continuation(Buffer.alloc(4096, 0x79), true, { declaredLength: 40_001 })],
      { maxPayload: 100_000 },
    );
  });

  it('a compressed message counts by its inflated size: incompressible bytes just over maxPayload on the wire are delivered', async () => {
    const server = await rawServer();
    const { c, errors } = client(server.url, { maxPayload: 4096 });
    const conn = await server.nextConnection(T);
    conn.accept({ 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    await withTimeout(c.opened, T, 'opened');
    const data = randomBytes(4096); // incompressible: deflate makes it a little larger
    const wire = deflateRawSync(data, { finishFlush: zlib.Z_SYNC_FLUSH }).subarray(0, -4);
    expect(wire.length).toBeGreaterThan(4096);
    const message = once<[Buffer, boolean]>(c, 'message', T);
    conn.write(F.binary(wire, { rsv1: true }));
    const [got] = await message;
    expect(Buffer.compare(got, data)).toBe(0);
    expect(errors).toEqual([]);
  });
});

describe('receiveHighWaterMark: memory held while JS is blocked and the server floods', () => {
  it('stays under receiveHighWaterMark + maxPayload + 16 MiB while 128 MiB are offered, and loses nothing after', async () => {
    const hwm = 1 * MiB;
    const maxPayload = 1 * MiB;
    const size = 64 * 1024;
    const count = 2048; // 128 MiB
    const server = await rawServer();
    const child = runFixture('rx-hold.cjs', [server.url, String(hwm), String(maxPayload), String(count)], { nodeArgs: ['--expose-gc'] });
    const conn = await server.nextConnection(20_000);
    conn.accept();
    const blocked = Number((await child.waitLine(/^blocked \d+$/, 20_000)).split(' ')[1]);

    const frame = F.binary(Buffer.alloc(size, 0x5a));
    for (let i = 0; i < count; i++) conn.write(frame);
    const socket = conn.socket;
    // Wait until the client stopped taking bytes (nothing moved to the
    // kernel for 500 ms) or took everything (then the RSS check fails).
    let last = -1;
    let still = 0;
    await waitFor(
      () => {
        if (socket.writableLength === 0) return true;
        still = socket.bytesWritten === last ? still + 1 : 0;
        last = socket.bytesWritten;
        return still >= 10;
      },
      30_000,
      { intervalMs: 50, label: 'the client to stop reading or take everything' },
    );
    const unsent = socket.writableLength;
    child.send('sample');
    const held = Number((await child.waitLine(/^held \d+$/, 20_000)).split(' ')[1]);
    const growth = held - blocked;
    console.log(`receive limit: RSS ${(blocked / MiB).toFixed(1)} -> ${(held / MiB).toFixed(1)} MiB while blocked; ${(unsent / MiB).toFixed(1)} of 128 MiB still at the server`);
    expect(growth, `RSS grew ${(growth / MiB).toFixed(1)} MiB while blocked`).toBeLessThan(hwm + maxPayload + 16 * MiB);
    // Loopback kernel buffers hold a few MiB; the rest must still be at the server.
    expect(unsent).toBeGreaterThan(96 * MiB);

    expect(await child.waitLine(/^done /, 60_000)).toBe(`done ${count} ${count * size}`);
    conn.write(F.close(1000));
    conn.end();
    const result = await child.waitExit(20_000);
    expect(result.code).toBe(0);
  });
});

describe('response head size and number of headers', () => {
  /** A 101 with the right accept key and `lines` extra header lines (raw, in order). */
  function answer(conn: RawConnection, extra: string[], status = 'HTTP/1.1 101 Switching Protocols'): void {
    const key = conn.request.headers['sec-websocket-key'] ?? '';
    const head = [status, 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${computeAccept(key)}`, ...extra];
    conn.write(Buffer.from(head.join('\r\n') + '\r\n\r\n', 'latin1'));
  }

  async function attempt(extra: string[], status?: string, path = '/'): Promise<{ error?: WebSocketError; ms: number; opened: boolean }> {
    const server = await rawServer();
    const started = performance.now();
    const { c, closed } = client(`${server.url}${path}`, { perMessageDeflate: false });
    answer(await server.nextConnection(T), extra, status);
    const opened = await withTimeout(c.opened, T, 'opened').then(
      () => true,
      () => false,
    );
    if (opened) return { opened, ms: performance.now() - started };
    await closed;
    return { ...(c.lastError ? { error: c.lastError } : {}), ms: performance.now() - started, opened };
  }

  it('a 1 MiB header line fails with ERR_RESPONSE_HEADERS_TOO_LARGE', async () => {
    const r = await attempt([`X-Big: ${'a'.repeat(MiB)}`]);
    expect(r.opened).toBe(false);
    expect(r.error?.code).toBe('ERR_RESPONSE_HEADERS_TOO_LARGE');
    expect(r.error?.message).toMatch(/16 KiB/);
    expect(r.ms).toBeLessThan(T);
  });

  it('a 1 MiB reason phrase in the status line fails the same way', async () => {
    const r = await attempt([], `HTTP/1.1 101 ${'x'.repeat(MiB)}`);
    expect(r.error?.code).toBe('ERR_RESPONSE_HEADERS_TOO_LARGE');
  });

  it('a refusal with an oversized head fails the same way (its status cannot be read)', async () => {
    const r = await attempt([`X-Big: ${'a'.repeat(64 * 1024)}`], 'HTTP/1.1 503 Service Unavailable');
    expect(r.error?.code).toBe('ERR_RESPONSE_HEADERS_TOO_LARGE');
  });

  it('a 12 KiB head opens: the table holds 16 KiB (lws alone holds 4 KiB)', async () => {
    const r = await attempt([`X-Big: ${'a'.repeat(12 * 1024)}`]);
    expect(r.opened).toBe(true);
  });

  it('the request URI shares the table: a 6 KiB path and a 12 KiB response do not fit', async () => {
    const r = await attempt([`X-Big: ${'a'.repeat(12 * 1024)}`], undefined, `/${'p'.repeat(6 * 1024)}`);
    expect(r.error?.code).toBe('ERR_RESPONSE_HEADERS_TOO_LARGE');
  });

  it('10,000 small headers fail with ERR_RESPONSE_HEADERS_TOO_LARGE', async () => {
    const r = await attempt(Array.from({ length: 10_000 }, (_, i) => `X-H${i}: v`));
    expect(r.error?.code).toBe('ERR_RESPONSE_HEADERS_TOO_LARGE');
    expect(r.ms).toBeLessThan(T);
  });

  it('10,000 Set-Cookie headers (a name lws parses) fail the same way: too many lines', async () => {
    const r = await attempt(Array.from({ length: 10_000 }, (_, i) => `Set-Cookie: c${i}=v`));
    expect(r.error?.code).toBe('ERR_RESPONSE_HEADERS_TOO_LARGE');
    expect(r.error?.message).toMatch(/more header lines/);
  });

  it('300 small headers open', async () => {
    const r = await attempt(Array.from({ length: 300 }, (_, i) => `X-H${i}: v`));
    expect(r.opened).toBe(true);
  });

  it('a response head lws cannot parse (a request line inside it) fails with ERR_HANDSHAKE', async () => {
    const r = await attempt(['GET /a HTTP/1.1', 'GET /b HTTP/1.1']);
    expect(r.error?.code).toBe('ERR_HANDSHAKE');
    expect(r.error?.message).toMatch(/malformed response head/);
  });
});
