/**
 * RFC 6455 conformance of the client, against raw servers (test/helpers/raw-server.ts)
 * that write exact bytes and read back exactly what the client puts on the wire.
 *
 * The raw server never negotiates an extension, so RSV bits are always illegal.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connectOnce, WebSocketClient, type ConnectOptions, type WebSocketError } from './lib';
import * as F from './helpers/frames';
import { Opcode, parseClose, type DecodedFrame } from './helpers/frames';
import { AsyncQueue, QueueEndedError } from './helpers/queue';
import { startRawServer, type RawConnection, type RawServer } from './helpers/raw-server';
import { once, withTimeout } from './helpers/wait';
import { isValidCloseCode } from '../dist/cjs/close-codes.js';

const T = 5000;

// ---------------------------------------------------------------------------
// Bookkeeping: everything a test starts is torn down afterwards.

const clients: WebSocketClient[] = [];
const rawServers: RawServer[] = [];
const netServers: Server[] = [];
const netSockets = new Set<Socket>();

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(rawServers.splice(0).map((s) => s.close()));
  for (const socket of netSockets) socket.destroy();
  netSockets.clear();
  await Promise.all(
    netServers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
  );
});

async function rawServer(): Promise<RawServer> {
  const server = await startRawServer(null, { defaultTimeoutMs: T });
  rawServers.push(server);
  return server;
}

// ---------------------------------------------------------------------------
// Client side: record every event from the moment connectOnce() returns.

interface Received {
  data: string | Buffer;
  isBinary: boolean;
}

interface CloseEvent {
  code: number;
  reason: string;
}

interface Observed {
  client: WebSocketClient;
  /** Every message delivered, in order. */
  messages: Received[];
  /** Next message not yet taken (messages stay in `messages`). */
  nextMessage(): Promise<Received>;
  errors: WebSocketError[];
  pongs: Buffer[];
  opens: number;
  /** The 'close' event (never rejects). */
  closed: Promise<CloseEvent>;
  waitClose(): Promise<CloseEvent>;
}

function start(url: string, options: ConnectOptions = {}): Observed {
  const client = connectOnce(url, options);
  clients.push(client);
  const queue = new AsyncQueue<Received>('message from server', T);
  const obs: Observed = {
    client,
    messages: [],
    nextMessage: () => queue.next(T),
    errors: [],
    pongs: [],
    opens: 0,
    closed: new Promise<CloseEvent>((resolve) => {
      client.once('close', (code, reason) => resolve({ code, reason }));
    }),
    waitClose: () => withTimeout(obs.closed, T, "client 'close' event"),
  };
  client.on('open', () => obs.opens++);
  client.on('message', (data, isBinary) => {
    obs.messages.push({ data, isBinary });
    queue.push({ data, isBinary });
  });
  client.on('error', (error) => obs.errors.push(error));
  client.on('pong', (data) => obs.pongs.push(data));
  return obs;
}

/** Raw server + client, upgrade accepted (no subprotocol, no extension), client open. */
async function openConnection(options: ConnectOptions = {}): Promise<{ conn: RawConnection; obs: Observed }> {
  const server = await rawServer();
  const obs = start(server.url, options);
  const conn = await server.nextConnection(T);
  conn.accept();
  await withTimeout(obs.client.opened, T, 'opened');
  return { conn, obs };
}

// ---------------------------------------------------------------------------
// Server side: what the client wrote.

/** The next frame the client sent, or undefined if it closed TCP first. */
async function nextFrameOrEnd(conn: RawConnection): Promise<DecodedFrame | undefined> {
  try {
    return await conn.nextFrame(T);
  } catch (error) {
    if (error instanceof QueueEndedError && error.cause === undefined) return undefined;
    throw error;
  }
}

/**
 * Reads client frames up to and including its Close frame. `close` is
 * undefined when the client closed TCP without sending one.
 */
async function readUntilClose(conn: RawConnection): Promise<{ close?: DecodedFrame; before: DecodedFrame[] }> {
  const before: DecodedFrame[] = [];
  for (;;) {
    const frame = await nextFrameOrEnd(conn);
    if (frame === undefined) return { before };
    if (frame.opcode === Opcode.Close) return { close: frame, before };
    before.push(frame);
  }
}

/** Reads the client's Close frame, failing the test if it never comes. */
async function expectCloseFrame(conn: RawConnection): Promise<{ code?: number; reason: string; frame: DecodedFrame }> {
  const { close, before } = await readUntilClose(conn);
  expect(before.map((f) => f.opcode), 'frames the client sent before its Close').toEqual([]);
  expect(close, 'the client must send a Close frame').toBeDefined();
  const frame = close as DecodedFrame;
  expect(frame.masked).toBe(true);
  expect(frame.fin).toBe(true);
  return { ...parseClose(frame.payload), frame };
}

/** Asserts the client sends nothing more and closes TCP. */
async function expectClientHangsUp(conn: RawConnection): Promise<void> {
  const after = await nextFrameOrEnd(conn);
  expect(after, 'frame sent after the Close frame').toBeUndefined();
  await conn.waitClosed(T);
}

/** A plain node:net server, for failures before any HTTP is read. */
async function netServer(onSocket: (socket: Socket) => void): Promise<string> {
  const server = createServer((socket) => {
    netSockets.add(socket);
    socket.on('close', () => netSockets.delete(socket));
    socket.on('error', () => undefined);
    socket.resume(); // read (and drop) the request, so the client's FIN is seen
    onSocket(socket);
  });
  netServers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening', T);
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const bytes = (...b: number[]): Buffer => Buffer.from(b);

// ===========================================================================

describe('fragmentation', () => {
  it('reassembles a text message sent as a start frame and three continuations', async () => {
    const { conn, obs } = await openConnection();
    for (const frame of F.fragmented(Opcode.Text, ['Hello', ', ', 'fragmented ', 'world'])) conn.write(frame);
    expect(await obs.nextMessage()).toEqual({ data: 'Hello, fragmented world', isBinary: false });
    expect(obs.messages).toHaveLength(1);
  });

  it('reassembles a binary message of five fragments, one of them empty', async () => {
    const { conn, obs } = await openConnection();
    const parts = [bytes(0, 1, 2), bytes(), bytes(3), Buffer.alloc(300, 0xaa), bytes(0xff)];
    conn.write(Buffer.concat(F.fragmented(Opcode.Binary, parts)));
    const message = await obs.nextMessage();
    expect(message.isBinary).toBe(true);
    expect(Buffer.compare(message.data as Buffer, Buffer.concat(parts))).toBe(0);
    expect(obs.messages).toHaveLength(1);
  });

  it('reassembles a fragmented message written one byte at a time', async () => {
    const { conn, obs } = await openConnection();
    conn.socket.setNoDelay(true);
    const wire = Buffer.concat([...F.fragmented(Opcode.Text, ['by', 'te-', 'wise']), F.binary(bytes(7, 8, 9))]);
    for (const b of wire) conn.write(bytes(b));
    expect(await obs.nextMessage()).toEqual({ data: 'byte-wise', isBinary: false });
    const second = await obs.nextMessage();
    expect(second.isBinary).toBe(true);
    expect([...(second.data as Buffer)]).toEqual([7, 8, 9]);
  });

  it('answers a ping between fragments with a pong of the same payload and still reassembles the message', async () => {
    const { conn, obs } = await openConnection();
    const [first, middle, last] = F.fragmented(Opcode.Text, ['part one, ', 'part two, ', 'part three']);
    const pingPayload = bytes(0xde, 0xad, 0xbe, 0xef, 0x00, 0x7f);
    conn.write(first as Buffer);
    conn.write(middle as Buffer);
    conn.write(F.ping(pingPayload));
    conn.write(last as Buffer);

    const pong = await conn.nextFrame(T);
    expect(pong.opcode).toBe(Opcode.Pong);
    expect(pong.fin).toBe(true);
    expect(pong.masked).toBe(true);
    expect([...pong.payload]).toEqual([...pingPayload]);
    expect(await obs.nextMessage()).toEqual({ data: 'part one, part two, part three', isBinary: false });
    expect(obs.messages).toHaveLength(1);
  });

  it('answers a ping with the maximum 125-byte payload with an identical pong', async () => {
    const { conn } = await openConnection();
    const payload = Buffer.alloc(125);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    conn.write(F.ping(payload));
    const pong = await conn.nextFrame(T);
    expect(pong.opcode).toBe(Opcode.Pong);
    expect(pong.masked).toBe(true);
    expect(Buffer.compare(pong.payload, payload)).toBe(0);
  });

  it('accepts an unsolicited pong between fragments without breaking reassembly', async () => {
    const { conn, obs } = await openConnection();
    const [first, last] = F.fragmented(Opcode.Binary, [bytes(1, 2), bytes(3, 4)]);
    conn.write(Buffer.concat([first as Buffer, F.pong('unsolicited'), last as Buffer]));
    const message = await obs.nextMessage();
    expect(message.isBinary).toBe(true);
    expect([...(message.data as Buffer)]).toEqual([1, 2, 3, 4]);
    expect(obs.pongs.map((p) => p.toString())).toEqual(['unsolicited']);
    // The connection is still healthy: a further message arrives, nothing was closed.
    conn.write(F.text('after'));
    expect(await obs.nextMessage()).toEqual({ data: 'after', isBinary: false });
    expect(obs.client.readyState).toBe(WebSocketClient.OPEN);
  });
});

describe('empty messages', () => {
  it('delivers an empty text message as an empty string', async () => {
    const { conn, obs } = await openConnection();
    conn.write(F.text(''));
    expect(await obs.nextMessage()).toEqual({ data: '', isBinary: false });
  });

  it('delivers an empty binary message as a zero-length Buffer', async () => {
    const { conn, obs } = await openConnection();
    conn.write(F.binary(Buffer.alloc(0)));
    const message = await obs.nextMessage();
    expect(message.isBinary).toBe(true);
    expect(Buffer.isBuffer(message.data)).toBe(true);
    expect((message.data as Buffer).length).toBe(0);
  });

  it('delivers a message made only of empty fragments as one empty message', async () => {
    const { conn, obs } = await openConnection();
    conn.write(Buffer.concat(F.fragmented(Opcode.Text, ['', '', ''])));
    conn.write(F.text('next'));
    expect(await obs.nextMessage()).toEqual({ data: '', isBinary: false });
    expect(await obs.nextMessage()).toEqual({ data: 'next', isBinary: false });
  });
});

describe('UTF-8 in text messages', () => {
  it('accepts a 3-byte character split across two fragments', async () => {
    const { conn, obs } = await openConnection();
    const euro = utf8('€'); // e2 82 ac
    conn.write(Buffer.concat(F.fragmented(Opcode.Text, [Buffer.concat([utf8('price: '), euro.subarray(0, 1)]), Buffer.concat([euro.subarray(1), utf8('5')])])));
    expect(await obs.nextMessage()).toEqual({ data: 'price: €5', isBinary: false });
  });

  it('accepts a 4-byte character split over three fragments', async () => {
    const { conn, obs } = await openConnection();
    const emoji = utf8('😀'); // f0 9f 98 80
    conn.write(Buffer.concat(F.fragmented(Opcode.Text, [emoji.subarray(0, 1), emoji.subarray(1, 3), emoji.subarray(3)])));
    expect(await obs.nextMessage()).toEqual({ data: '😀', isBinary: false });
  });

  /**
   * The client must fail the connection with 1007. The raw server behaves
   * well: it reads the Close frame, echoes it, and ends TCP.
   */
  async function expectUtf8Failure(frames: Buffer[]): Promise<void> {
    const { conn, obs } = await openConnection();
    conn.write(F.text('valid first'));
    expect(await obs.nextMessage()).toEqual({ data: 'valid first', isBinary: false });

    for (const frame of frames) conn.write(frame);
    const { code } = await expectCloseFrame(conn);
    expect(code).toBe(1007);
    conn.write(F.close(1007));
    conn.end();

    expect(await obs.waitClose()).toEqual({ code: 1007, reason: '' });
    expect(obs.errors.map((e) => e.code)).toEqual(['ERR_INVALID_UTF8']);
    expect(obs.client.lastError?.code).toBe('ERR_INVALID_UTF8');
    expect(obs.messages.map((m) => m.data)).toEqual(['valid first']);
    await conn.waitClosed(T);
  }

  it('fails the connection with 1007 on invalid UTF-8 in a single-frame text message', async () => {
    await expectUtf8Failure([F.text(bytes(0x68, 0x69, 0xff, 0x21))]);
  });

  it('fails the connection with 1007 on an encoded surrogate (ed a0 80) in a text message', async () => {
    await expectUtf8Failure([F.text(bytes(0x61, 0xed, 0xa0, 0x80))]);
  });

  it('fails the connection with 1007 on invalid UTF-8 spanning two fragments', async () => {
    // First fragment ends with the lead bytes of a 3-byte character; the
    // continuation starts with a byte that is not a continuation byte.
    await expectUtf8Failure(F.fragmented(Opcode.Text, [bytes(0x61, 0xe2, 0x82), bytes(0x28, 0x62)]));
  });

  it('fails the connection with 1007 on a text message ending inside a multi-byte sequence', async () => {
    await expectUtf8Failure(F.fragmented(Opcode.Text, [utf8('truncated '), bytes(0xf0, 0x9f, 0x98)]));
  });

  it('fails the connection with 1007 on a single-frame text message ending with a truncated sequence', async () => {
    await expectUtf8Failure([F.text(bytes(0x61, 0x62, 0xe2, 0x82))]);
  });
});

describe('maxPayload', () => {
  it('accepts a message of exactly maxPayload bytes', async () => {
    const { conn, obs } = await openConnection({ maxPayload: 100 });
    conn.write(F.binary(Buffer.alloc(100, 1)));
    conn.write(Buffer.concat(F.fragmented(Opcode.Text, ['a'.repeat(50), 'b'.repeat(50)])));
    expect(((await obs.nextMessage()).data as Buffer).length).toBe(100);
    expect(await obs.nextMessage()).toEqual({ data: 'a'.repeat(50) + 'b'.repeat(50), isBinary: false });
  });

  async function expectTooBig(frames: Buffer[]): Promise<void> {
    const { conn, obs } = await openConnection({ maxPayload: 100 });
    for (const frame of frames) conn.write(frame);
    const { code } = await expectCloseFrame(conn);
    expect(code).toBe(1009);
    conn.write(F.close(1009));
    conn.end();
    expect(await obs.waitClose()).toEqual({ code: 1009, reason: '' });
    expect(obs.errors.map((e) => e.code)).toEqual(['ERR_MESSAGE_TOO_BIG']);
    expect(obs.messages).toEqual([]);
  }

  it('fails the connection with 1009 on a single frame larger than maxPayload', async () => {
    await expectTooBig([F.binary(Buffer.alloc(101, 2))]);
  });

  it('fails the connection with 1009 on a fragmented message whose total exceeds maxPayload', async () => {
    await expectTooBig(F.fragmented(Opcode.Text, ['x'.repeat(40), 'y'.repeat(40), 'z'.repeat(40)]));
  });
});

describe('protocol violations by the server fail the connection', () => {
  /**
   * RFC 6455 7.1.7: the client fails the connection with Close 1002, and
   * reports that code with an ERR_PROTOCOL error (as for 1007/1009). After
   * the violation it parses nothing more (not even the server's Close), so
   * the server's end of TCP, or closeTimeout, ends the connection.
   */
  async function expectFailed(bad: Buffer[]): Promise<void> {
    const { conn, obs } = await openConnection({ closeTimeout: 300 });
    conn.write(F.text('before'));
    expect(await obs.nextMessage()).toEqual({ data: 'before', isBinary: false });

    for (const frame of bad) conn.write(frame);
    const { code } = await expectCloseFrame(conn);
    expect(code).toBe(1002);
    // Answer like a well-behaved server, without closing TCP ourselves:
    // the client closes it, at closeTimeout.
    conn.write(F.close(1002));
    await conn.waitClosed(T);
    expect(await obs.waitClose()).toEqual({ code: 1002, reason: '' });
    expect(obs.errors.map((e) => e.code)).toEqual(['ERR_PROTOCOL']);
    expect(obs.client.readyState).toBe(WebSocketClient.CLOSED);
    expect(obs.messages.map((m) => m.data), 'messages delivered').toEqual(['before']);
  }

  it.each([
    ['RSV1', { rsv1: true }],
    ['RSV2', { rsv2: true }],
    ['RSV3', { rsv3: true }],
  ] as const)('%s set on a text frame without a negotiated extension', async (_name, flags) => {
    await expectFailed([F.text('reserved bits', flags)]);
  });

  it('RSV1 set on a ping frame', async () => {
    await expectFailed([F.ping('x', { rsv1: true })]);
  });

  it.each([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf].map((op) => [op.toString(16).toUpperCase(), op] as const))(
    'reserved opcode 0x%s',
    async (_hex, opcode) => {
      await expectFailed([F.encodeFrame({ opcode, payload: 'reserved opcode' })]);
    },
  );

  it('a masked text frame from the server', async () => {
    await expectFailed([F.text('masked by the server', { mask: true })]);
  });

  it('a ping with a 126-byte payload (16-bit length)', async () => {
    await expectFailed([F.ping(Buffer.alloc(126, 0x70))]);
  });

  it('a close frame with a 126-byte payload (a 124-byte reason)', async () => {
    await expectFailed([F.encodeFrame({ opcode: Opcode.Close, payload: Buffer.concat([F.closePayload(1000), Buffer.alloc(124, 0x61)]) })]);
  });

  it('a ping with a 5-byte payload declared with a 16-bit length field', async () => {
    // Control frames must use the 7-bit length (RFC 6455 5.5: payload length <= 125).
    await expectFailed([F.ping('hello', { lengthBits: 16 })]);
  });

  it('a fragmented ping (FIN clear)', async () => {
    await expectFailed([F.ping('first half', { fin: false }), F.continuation('second half', true)]);
  });

  it('a continuation frame with no message in progress', async () => {
    await expectFailed([F.continuation('orphan', true)]);
  });

  it('a non-final continuation frame with no message in progress', async () => {
    await expectFailed([F.continuation('orphan', false), F.continuation('end', true)]);
  });

  it('a new text frame while a fragmented message is in progress', async () => {
    await expectFailed([F.text('started ', { fin: false }), F.text('interloper')]);
  });

  it('a new binary frame while a fragmented text message is in progress', async () => {
    await expectFailed([F.text('started ', { fin: false }), F.binary(bytes(1, 2, 3)), F.continuation('end', true)]);
  });

  it('a 64-bit length with the most significant bit set', async () => {
    await expectFailed([F.encodeFrame({ opcode: Opcode.Binary, declaredLength: 0x8000_0000_0000_0001n, payload: bytes(1) })]);
  });
});

describe('after failing the connection, TCP is dropped within closeTimeout when the server stays silent', () => {
  // RFC 6455 7.1.7: a client that fails the connection MUST close it. The
  // server here reads everything and never answers the client's Close, so
  // only the client's own timer (closeTimeout, 300 ms) can end the connection.
  async function expectDroppedWithinCloseTimeout(bad: Buffer, expectedCloseCode: number): Promise<void> {
    const { conn, obs } = await openConnection({ closeTimeout: 300 });
    conn.write(bad);
    const started = performance.now();
    const { code } = await expectCloseFrame(conn);
    expect(code).toBe(expectedCloseCode);
    await conn.waitClosed(3 * T);
    const elapsed = performance.now() - started;
    await obs.waitClose();
    expect(elapsed, 'ms from the bad frame until the client closed TCP').toBeLessThan(2000);
  }

  it('after a violation lws detects itself (Close 1002)', async () => {
    await expectDroppedWithinCloseTimeout(F.text('masked', { mask: true }), 1002);
  });

  it('after invalid UTF-8 in a text message (Close 1007)', async () => {
    await expectDroppedWithinCloseTimeout(F.text(bytes(0x61, 0xff)), 1007);
  });

  it('after a message larger than maxPayload (Close 1009)', async () => {
    const { conn, obs } = await openConnection({ closeTimeout: 300, maxPayload: 10 });
    conn.write(F.binary(Buffer.alloc(11)));
    const started = performance.now();
    expect((await expectCloseFrame(conn)).code).toBe(1009);
    await conn.waitClosed(3 * T);
    expect(performance.now() - started, 'ms from the bad frame until the client closed TCP').toBeLessThan(2000);
    await obs.waitClose();
  });
});

describe('close frames from the server', () => {
  it('echoes a close with code and reason and reports both exactly', async () => {
    const { conn, obs } = await openConnection();
    conn.write(F.close(4001, 'server says bye ✓'));
    const { code } = await expectCloseFrame(conn);
    expect(code).toBe(4001);
    conn.end();
    await expectClientHangsUp(conn);
    expect(await obs.waitClose()).toEqual({ code: 4001, reason: 'server says bye ✓' });
    expect(obs.errors).toEqual([]);
    expect(obs.client.readyState).toBe(WebSocketClient.CLOSED);
  });

  it('echoes a normal close (1000) and reports it', async () => {
    const { conn, obs } = await openConnection();
    conn.write(F.close(1000));
    expect((await expectCloseFrame(conn)).code).toBe(1000);
    conn.end();
    expect(await obs.waitClose()).toEqual({ code: 1000, reason: '' });
  });

  it('answers an empty close payload with a Close frame and reports 1005', async () => {
    const { conn, obs } = await openConnection();
    conn.write(F.close());
    const { frame } = await expectCloseFrame(conn);
    // The reply is empty or carries a valid code; 1005 must never be on the wire.
    if (frame.payload.length > 0) {
      expect(frame.payload.length).toBeGreaterThanOrEqual(2);
      expect(parseClose(frame.payload).code).toBe(1000);
    }
    conn.end();
    expect(await obs.waitClose()).toEqual({ code: 1005, reason: '' });
    expect(obs.errors).toEqual([]);
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])(
    'treats invalid close code %i as a protocol error: Close 1002 on the wire, 1002 reported',
    async (invalid) => {
      // The façade's table (what close() may send) says the same as the native one (what is accepted).
      expect(isValidCloseCode(invalid)).toBe(false);
      const { conn, obs } = await openConnection();
      conn.write(F.close(invalid, 'bad code'));
      const { code } = await expectCloseFrame(conn);
      expect(code).toBe(1002);
      conn.end();
      expect((await obs.waitClose()).code).toBe(1002);
    },
  );

  it.each([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])(
    'accepts valid close code %i and echoes it',
    async (valid) => {
      expect(isValidCloseCode(valid)).toBe(true);
      const { conn, obs } = await openConnection();
      conn.write(F.close(valid));
      expect((await expectCloseFrame(conn)).code).toBe(valid);
      conn.end();
      expect((await obs.waitClose()).code).toBe(valid);
    },
  );

  it('treats a 1-byte close payload as a protocol error (Close 1002, never a 1-byte echo)', async () => {
    const { conn, obs } = await openConnection();
    conn.write(F.encodeFrame({ opcode: Opcode.Close, payload: bytes(0x03) }));
    const { frame, code } = await expectCloseFrame(conn);
    expect(frame.payload.length, 'client close payload length').not.toBe(1);
    expect(code).toBe(1002);
    conn.end();
    expect((await obs.waitClose()).code).toBe(1002);
  });

  it('fails the connection with 1007 on a close reason that is not valid UTF-8', async () => {
    const { conn, obs } = await openConnection();
    conn.write(F.close(1000, bytes(0x6f, 0x6b, 0xff)));
    const { code } = await expectCloseFrame(conn);
    expect(code).toBe(1007);
    conn.end();
    await obs.waitClose();
  });

  it('echoes the close and reports it exactly when garbage follows the close frame in the same segment', async () => {
    // RFC 6455 5.5.1: what follows a Close is discarded, the Close answered.
    const { conn, obs } = await openConnection();
    conn.write(Buffer.concat([F.close(1000, 'done'), bytes(0xff, 0xff, 0xff)]));
    expect((await expectCloseFrame(conn)).code).toBe(1000);
    conn.end();
    await expectClientHangsUp(conn);
    expect(await obs.waitClose()).toEqual({ code: 1000, reason: 'done' });
    expect(obs.messages).toEqual([]);
  });

  it('ignores data frames after the close frame', async () => {
    const { conn, obs } = await openConnection();
    conn.write(Buffer.concat([F.close(1000, 'done'), F.text('after close'), F.binary(bytes(1))]));
    expect((await expectCloseFrame(conn)).code).toBe(1000);
    conn.write(F.text('after the echo'));
    conn.write(F.ping('after the echo'));
    conn.end();
    await expectClientHangsUp(conn);
    expect(await obs.waitClose()).toEqual({ code: 1000, reason: 'done' });
    expect(obs.messages).toEqual([]);
    expect(obs.errors).toEqual([]);
  });
});

describe('opening handshake problems', () => {
  /** Asserts that the attempt fails before open with `code` and closes with 1006. */
  async function expectHandshakeFailure(obs: Observed, code: string): Promise<WebSocketError> {
    const error = await withTimeout(obs.client.opened, T, 'opened').then(
      () => {
        throw new Error('opened resolved, the handshake must fail');
      },
      (e: WebSocketError) => e,
    );
    expect(error.code).toBe(code);
    expect((await obs.waitClose()).code).toBe(1006);
    expect(obs.opens).toBe(0);
    expect(obs.client.readyState).toBe(WebSocketClient.CLOSED);
    expect(obs.errors.map((e) => e.code)).toEqual([code]);
    return error;
  }

  it('fails on a wrong Sec-WebSocket-Accept', async () => {
    const server = await rawServer();
    const obs = start(server.url);
    const conn = await server.nextConnection(T);
    conn.accept({}, { acceptKey: 'dGhlIHNhbXBsZSBub25jZQ==', appendData: F.text('must not arrive') });
    await expectHandshakeFailure(obs, 'ERR_HANDSHAKE');
    expect(obs.messages).toEqual([]);
    await conn.waitClosed(T);
  });

  it('fails when Sec-WebSocket-Accept is missing', async () => {
    const server = await rawServer();
    const obs = start(server.url);
    (await server.nextConnection(T)).accept({ 'Sec-WebSocket-Accept': null });
    await expectHandshakeFailure(obs, 'ERR_HANDSHAKE');
  });

  it('fails when the Upgrade header is missing', async () => {
    const server = await rawServer();
    const obs = start(server.url);
    (await server.nextConnection(T)).accept({ Upgrade: null });
    await expectHandshakeFailure(obs, 'ERR_HANDSHAKE');
  });

  it('fails when Upgrade names something other than websocket', async () => {
    const server = await rawServer();
    const obs = start(server.url);
    (await server.nextConnection(T)).accept({ Upgrade: 'h2c' });
    await expectHandshakeFailure(obs, 'ERR_HANDSHAKE');
  });

  it('fails when the Connection header does not contain Upgrade', async () => {
    const server = await rawServer();
    const obs = start(server.url);
    (await server.nextConnection(T)).accept({ Connection: 'keep-alive' });
    await expectHandshakeFailure(obs, 'ERR_HANDSHAKE');
  });

  it('fails on a 101 selecting a subprotocol the client did not offer', async () => {
    const server = await rawServer();
    const obs = start(server.url, { protocols: ['chat', 'superchat'] });
    const conn = await server.nextConnection(T);
    expect(conn.request.headers['sec-websocket-protocol']).toBe('chat, superchat');
    conn.accept({ 'Sec-WebSocket-Protocol': 'other' });
    await expectHandshakeFailure(obs, 'ERR_HANDSHAKE');
  });

  it('fails on a 101 selecting a prefix of an offered subprotocol', async () => {
    const server = await rawServer();
    const obs = start(server.url, { protocols: ['chat.v2'] });
    (await server.nextConnection(T)).accept({ 'Sec-WebSocket-Protocol': 'chat' });
    await expectHandshakeFailure(obs, 'ERR_HANDSHAKE');
  });

  it('fails on a 101 selecting a subprotocol when none was offered', async () => {
    const server = await rawServer();
    const obs = start(server.url);
    const conn = await server.nextConnection(T);
    expect(conn.request.headers['sec-websocket-protocol']).toBeUndefined();
    conn.accept({ 'Sec-WebSocket-Protocol': 'chat' });
    await expectHandshakeFailure(obs, 'ERR_HANDSHAKE');
  });

  it('opens with the subprotocol the server selected from the offer', async () => {
    const server = await rawServer();
    const obs = start(server.url, { protocols: ['chat', 'superchat'] });
    (await server.nextConnection(T)).accept({ 'Sec-WebSocket-Protocol': 'superchat' });
    await withTimeout(obs.client.opened, T, 'opened');
    expect(obs.client.protocol).toBe('superchat');
  });

  it('fails on a 101 accepting an extension the client did not offer', async () => {
    const server = await rawServer();
    const obs = start(server.url, { perMessageDeflate: false });
    const conn = await server.nextConnection(T);
    expect(conn.request.headers['sec-websocket-extensions']).toBeUndefined();
    conn.accept({ 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    await expectHandshakeFailure(obs, 'ERR_HANDSHAKE');
  });

  it('delivers a frame that arrives in the same TCP segment as the 101', async () => {
    const server = await rawServer();
    const obs = start(server.url);
    (await server.nextConnection(T)).accept({}, { appendData: Buffer.concat([F.text('early'), F.binary(bytes(5))]) });
    expect(await obs.nextMessage()).toEqual({ data: 'early', isBinary: false });
    expect(((await obs.nextMessage()).data as Buffer)[0]).toBe(5);
    expect(obs.opens).toBe(1);
  });

  it('fails with ETIMEDOUT when the server never answers the upgrade (handshakeTimeout 500 ms)', async () => {
    const server = await rawServer();
    const started = performance.now();
    const obs = start(server.url, { handshakeTimeout: 500 });
    const conn = await server.nextConnection(T);
    const error = await expectHandshakeFailure(obs, 'ETIMEDOUT');
    const elapsed = performance.now() - started;
    expect(error.message).toMatch(/timed out/);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(3000);
    await conn.waitClosed(T);
  });

  it('fails when the server closes the socket right after accepting it', async () => {
    const url = await netServer((socket) => socket.destroy());
    const obs = start(url);
    await expectHandshakeFailure(obs, 'ECONNRESET');
  });

  it('fails when the server closes the socket after reading the request', async () => {
    const server = await rawServer();
    const obs = start(server.url);
    (await server.nextConnection(T)).end();
    await expectHandshakeFailure(obs, 'ECONNRESET');
  });

  it('fails when the server answers with something that is not HTTP and closes', async () => {
    const url = await netServer((socket) => socket.end('SSH-2.0-OpenSSH_9.6\r\n'));
    const obs = start(url);
    await expectHandshakeFailure(obs, 'ECONNRESET');
  });

  it('fails by handshakeTimeout on a response that is not HTTP while the socket stays open', async () => {
    // RFC 6455 4.1 wants this failed at once; lws keeps waiting for a status
    // line (README, known limits), so handshakeTimeout is what ends it.
    const url = await netServer((socket) => socket.write('SSH-2.0-OpenSSH_9.6\r\n\r\n'));
    const obs = start(url, { handshakeTimeout: 500 });
    const error = await withTimeout(obs.client.opened, T, 'opened').then(
      () => undefined,
      (e: WebSocketError) => e,
    );
    expect(error?.code).toBe('ETIMEDOUT');
    expect((await obs.waitClose()).code).toBe(1006);
    expect(obs.opens).toBe(0);
  });
});

describe('refused upgrades', () => {
  it('exposes status 401 and the WWW-Authenticate header', async () => {
    const server = await rawServer();
    const obs = start(server.url);
    (await server.nextConnection(T)).reject(401, { 'WWW-Authenticate': 'Basic realm="test"' }, 'no entry');
    const error = await withTimeout(obs.client.opened, T, 'opened').then(
      () => undefined,
      (e: WebSocketError) => e,
    );
    expect(error?.code).toBe('ERR_UNEXPECTED_RESPONSE');
    expect(error?.status).toBe(401);
    expect(error?.headers?.['www-authenticate']).toBe('Basic realm="test"');
    expect((await obs.waitClose()).code).toBe(1006);
    expect(obs.opens).toBe(0);
  });

  it('exposes status 503 and the Retry-After header', async () => {
    const server = await rawServer();
    const obs = start(server.url);
    (await server.nextConnection(T)).reject(503, { 'Retry-After': '120' }, 'busy');
    const error = await withTimeout(obs.client.opened, T, 'opened').then(
      () => undefined,
      (e: WebSocketError) => e,
    );
    expect(error?.code).toBe('ERR_UNEXPECTED_RESPONSE');
    expect(error?.status).toBe(503);
    expect(error?.headers?.['retry-after']).toBe('120');
    expect(obs.errors.map((e) => e.status)).toEqual([503]);
    expect((await obs.waitClose()).code).toBe(1006);
    expect(obs.opens).toBe(0);
  });

  it('refuses a 200 answer to the upgrade request', async () => {
    const server = await rawServer();
    const obs = start(server.url);
    (await server.nextConnection(T)).reject(200, {}, 'hello, plain HTTP');
    const error = await withTimeout(obs.client.opened, T, 'opened').then(
      () => undefined,
      (e: WebSocketError) => e,
    );
    expect(error?.code).toBe('ERR_UNEXPECTED_RESPONSE');
    expect(error?.status).toBe(200);
    expect(obs.opens).toBe(0);
  });
});

describe('frames the client sends', () => {
  it('masks every frame with a fresh key: text, binary, ping and close', async () => {
    const { conn, obs } = await openConnection();
    const c = obs.client;
    for (let i = 0; i < 8; i++) c.send(`text ${i}`);
    c.send(bytes(0, 0, 0, 0, 1, 2, 3));
    c.ping('are you there');
    const closing = c.close(3001, 'client done');

    const frames: DecodedFrame[] = [];
    for (;;) {
      const frame = await conn.nextFrame(T);
      frames.push(frame);
      if (frame.opcode === Opcode.Close) break;
    }
    expect(frames.every((f) => f.masked)).toBe(true);
    expect(frames.every((f) => f.rsv === 0 && f.fin)).toBe(true);
    const texts = frames.filter((f) => f.opcode === Opcode.Text).map((f) => f.payload.toString());
    expect(texts).toEqual(Array.from({ length: 8 }, (_, i) => `text ${i}`));
    expect(frames.filter((f) => f.opcode === Opcode.Binary).map((f) => [...f.payload])).toEqual([[0, 0, 0, 0, 1, 2, 3]]);
    expect(frames.filter((f) => f.opcode === Opcode.Ping).map((f) => f.payload.toString())).toEqual(['are you there']);
    expect(parseClose(frames[frames.length - 1]!.payload)).toEqual({ code: 3001, reason: 'client done' });
    const keys = new Set(frames.map((f) => f.maskKey!.toString('hex')));
    expect(keys.size, 'distinct masking keys over 11 frames').toBeGreaterThan(1);

    conn.write(F.close(3001));
    conn.end();
    await withTimeout(closing, T, 'close()');
    expect(await obs.waitClose()).toEqual({ code: 3001, reason: 'client done' });
  });

  it('masks the pong it sends in answer to a ping', async () => {
    const { conn } = await openConnection();
    conn.write(F.ping('mask me'));
    const pong = await conn.nextFrame(T);
    expect(pong.opcode).toBe(Opcode.Pong);
    expect(pong.masked).toBe(true);
    expect(pong.payload.toString()).toBe('mask me');
  });

  /** Reads one fragmented message from the client; returns its frames. */
  async function readMessage(conn: RawConnection): Promise<DecodedFrame[]> {
    const frames: DecodedFrame[] = [];
    for (;;) {
      const frame = await conn.nextFrame(T);
      frames.push(frame);
      if (frame.fin) return frames;
    }
  }

  function expectFragmented(frames: DecodedFrame[], opcode: number, fragmentSize: number): void {
    expect(frames.length).toBeGreaterThan(1);
    expect(frames[0]!.opcode).toBe(opcode);
    for (const [i, f] of frames.entries()) {
      expect(f.masked).toBe(true);
      expect(f.rsv).toBe(0);
      expect(f.fin).toBe(i === frames.length - 1);
      if (i > 0) expect(f.opcode).toBe(Opcode.Continuation);
      expect(f.payload.length).toBeLessThanOrEqual(fragmentSize);
    }
  }

  it('sends a 200 KiB binary message as 64 KiB fragments that reassemble exactly', async () => {
    const { conn, obs } = await openConnection();
    const payload = Buffer.alloc(200 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >> 8)) & 0xff;
    obs.client.send(payload);
    const frames = await readMessage(conn);
    expectFragmented(frames, Opcode.Binary, 64 * 1024);
    expect(frames.map((f) => f.payload.length)).toEqual([65536, 65536, 65536, 8192]);
    expect(Buffer.compare(Buffer.concat(frames.map((f) => f.payload)), payload)).toBe(0);
  });

  it('sends a 200 KiB text message as fragments that reassemble to the same string', async () => {
    const { conn, obs } = await openConnection();
    const message = 'é€😀a'.repeat(20 * 1024); // 10 bytes per repeat: 200 KiB
    expect(Buffer.byteLength(message)).toBe(200 * 1024);
    obs.client.send(message);
    const frames = await readMessage(conn);
    expectFragmented(frames, Opcode.Text, 64 * 1024);
    expect(Buffer.concat(frames.map((f) => f.payload)).toString('utf8')).toBe(message);
  });

  it('honours a smaller fragmentSize and keeps messages in order', async () => {
    const { conn, obs } = await openConnection({ fragmentSize: 1000 });
    const first = Buffer.alloc(2500, 1);
    obs.client.send(first);
    obs.client.send('small');
    const frames = await readMessage(conn);
    expectFragmented(frames, Opcode.Binary, 1000);
    expect(frames.map((f) => f.payload.length)).toEqual([1000, 1000, 500]);
    const next = await conn.nextFrame(T);
    expect(next).toMatchObject({ opcode: Opcode.Text, fin: true, masked: true });
    expect(next.payload.toString()).toBe('small');
  });
});
