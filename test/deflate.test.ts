/**
 * permessage-deflate, byte for byte, against ws's server (compression is on
 * by default in this client). The streams of issue 15 that arrived split,
 * truncated or lost, then fast-check round trips: random sequences of text
 * and binary messages (empty to 4 MiB, incompressible to runs of one byte),
 * cut into frames by the server, with every window size from 8 to 15 bits
 * for each side and context takeover on and off; every message is compared
 * by type, length and content, in order. deflate-python.test.ts does the
 * same against Python's websockets.
 *
 * Seeded: CI repeats the same cases. DEFLATE_SEED=<n> replays another seed,
 * DEFLATE_RUNS=<n> runs each property longer.
 */
import { createHash } from 'node:crypto';
import { constants as zlib, createInflateRaw, deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { connectOnce, type ConnectOptions, type WebSocketClient, type WebSocketError } from './lib';
import {
  cutOffsets,
  materialize,
  MiB,
  paramsArb,
  SequenceTally,
  sequenceArb,
  splitAt,
  type DeflateParams,
  type MessageSpec,
} from './helpers/deflate-messages';
import * as F from './helpers/frames';
import { AsyncQueue } from './helpers/queue';
import { startRawServer, type RawServer } from './helpers/raw-server';
import { startWsServer, type WsConnection, type WsServer } from './helpers/ws-server';
import { endAfterEach, once, withTimeout } from './helpers/wait';

const T = 20_000;
const SEED = process.env.DEFLATE_SEED ? Number(process.env.DEFLATE_SEED) : 0xdef1a7e;
const RUNS = process.env.DEFLATE_RUNS ? Number(process.env.DEFLATE_RUNS) : undefined;

const { clients, servers } = endAfterEach<WebSocketClient, WsServer | RawServer>();

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

interface Received {
  data: Buffer | string;
  isBinary: boolean;
}

interface Session {
  server: WsServer;
  conn: WsConnection;
  client: WebSocketClient;
  received: AsyncQueue<Received>;
  errors: WebSocketError[];
}

async function open(
  perMessageDeflate: NonNullable<Parameters<typeof startWsServer>[0]>['perMessageDeflate'],
  options: ConnectOptions = {},
): Promise<Session> {
  const server = await startWsServer({ perMessageDeflate, defaultTimeoutMs: T });
  servers.push(server);
  const client = connectOnce(server.url, options);
  clients.push(client);
  const received = new AsyncQueue<Received>('message from server', T);
  const errors: WebSocketError[] = [];
  client.on('message', (data, isBinary) => received.push({ data, isBinary }));
  client.on('error', (e) => errors.push(e));
  const conn = await server.nextConnection(T);
  await withTimeout(client.opened, T, 'opened');
  expect(client.extensions).toContain('permessage-deflate');
  return { server, conn, client, received, errors };
}

/** Closes the client with 1000 and checks that the server saw 1000 and the client no error. */
async function finish(s: Session): Promise<void> {
  const closed = once<[number, string]>(s.client, 'close', T, { rejectOnError: false });
  s.client.close(1000);
  expect((await closed)[0]).toBe(1000);
  expect((await s.conn.waitClose(T)).code).toBe(1000);
  expect(s.errors.map((e) => `${e.code}: ${e.message}`)).toEqual([]);
}

/** The next message must be `want` (type, length, bytes). */
async function expectMessage(s: Session, want: Buffer, binary: boolean, what: string): Promise<void> {
  const m = await s.received.next(T);
  const got = typeof m.data === 'string' ? Buffer.from(m.data) : m.data;
  expect({ what, binary: m.isBinary, length: got.length }).toEqual({ what, binary, length: want.length });
  expect(sha(got), what).toBe(sha(want));
}

/** The server's next message must be `want` (type, length, bytes). */
async function expectAtServer(s: Session, want: Buffer, binary: boolean, what: string): Promise<void> {
  const m = await s.conn.nextMessage(T);
  expect({ what, binary: m.isBinary, length: m.data.length }).toEqual({ what, binary, length: want.length });
  expect(sha(m.data), what).toBe(sha(want));
}

/** Sends `data` as text (a string: send() takes text as strings) or binary. */
function sendFromClient(s: Session, data: Buffer, binary: boolean): void {
  s.client.send(binary ? data : data.toString('utf8'), { binary });
}

/** A record of ~50 bytes, as the feeds sent. */
const RECORD = JSON.stringify({ t: 1712345678, sym: 'BTCUSD', px: 65123.5, q: 0.25 }).padEnd(50, ' ');
const records = (n: number): string => RECORD.repeat(Math.ceil(n / RECORD.length)).slice(0, n);

describe('permessage-deflate streams that arrived split, truncated or lost (issue 15)', () => {
  // lws ended a message in the call that gave zlib its last input, with 5
  // bytes of room for the rest: when that input had filled the 1 KiB
  // inflate buffer, zlib's remaining output became the next "message" and
  // the unconsumed tail kept the next frame from zlib (deps/patch-lws.py, 7).
  it('200 compressible messages from 1 B to 280 KB with context takeover arrive intact and in order', async () => {
    const s = await open(true);
    let x = 7;
    const sizes = Array.from({ length: 200 }, () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return 1 + Math.floor((x / 2 ** 31) ** 2 * 280_000);
    });
    const sent = sizes.map(records);
    for (const m of sent) s.conn.ws.send(m);
    for (let i = 0; i < sent.length; i++) await expectMessage(s, Buffer.from(sent[i] as string), false, `message ${i} of ${sizes[i]} B`);
    await finish(s);
  });

  it('a 4,194,305-byte binary message arrives whole, not as a binary and a text message', async () => {
    const s = await open({ threshold: 0 });
    const big = Buffer.from(records(4 * MiB + 1));
    s.conn.ws.send(big, { binary: true });
    s.conn.ws.send('after');
    await expectMessage(s, big, true, 'the 4 MiB + 1 message');
    await expectMessage(s, Buffer.from('after'), false, 'the message after it');
    await finish(s);
  });

  it('the same stream with 9-bit windows on both sides', async () => {
    const s = await open({ serverMaxWindowBits: 9, clientMaxWindowBits: 9, threshold: 0 });
    const sent = Array.from({ length: 60 }, (_, i) => records(1 + ((i * 7919) % 90_000)));
    for (const m of sent) s.conn.ws.send(m);
    for (let i = 0; i < sent.length; i++) await expectMessage(s, Buffer.from(sent[i] as string), false, `message ${i}`);
    await finish(s);
  });
});

describe('permessage-deflate: a DEFLATE block with BFINAL set (RFC 7692 7.2.3.3)', () => {
  // A final block ends zlib's stream. lws fed the following messages to the
  // ended stream, which took nothing more: they were lost. Now the rest of
  // that message is ignored and the next message is a new stream over the
  // same window (deps/patch-lws.py, 7).
  it('the message after a BFINAL block, which refers back into it, arrives intact, and so does the one after', async () => {
    const server = await startRawServer(null, { defaultTimeoutMs: T });
    servers.push(server);
    const client = connectOnce(server.url);
    clients.push(client);
    const got: Received[] = [];
    const errors: WebSocketError[] = [];
    client.on('message', (data, isBinary) => got.push({ data, isBinary }));
    client.on('error', (e) => errors.push(e));
    const closed = once<[number, string]>(client, 'close', T, { rejectOnError: false });
    const conn = await server.nextConnection(T);
    conn.accept({ 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    await withTimeout(client.opened, T, 'opened');
    const a = Buffer.from('the first message, ended with BFINAL; '.repeat(40));
    const b = Buffer.from('the first message, ended with BFINAL; and the second one refers back to it');
    const c = Buffer.from('a third message, ordinary');
    const syncFlushed = (data: Buffer, dictionary: Buffer): Buffer => {
      const out = deflateRawSync(data, { finishFlush: zlib.Z_SYNC_FLUSH, dictionary });
      return out.subarray(0, out.length - 4);
    };
    conn.write(F.text(deflateRawSync(a), { rsv1: true })); // Z_FINISH: BFINAL, nothing cut
    conn.write(F.text(syncFlushed(b, a), { rsv1: true })); // a new stream over a's window
    conn.write(F.text(syncFlushed(c, Buffer.concat([a, b])), { rsv1: true }));
    conn.write(F.close(1000));
    conn.end();
    expect((await closed)[0]).toBe(1000);
    expect(got).toEqual([a, b, c].map((m) => ({ data: m.toString(), isBinary: false })));
    expect(errors).toEqual([]);
  });
});

describe('permessage-deflate from the client (issue 15)', () => {
  // zlib writes nothing for an empty message after a flushed one; lws sent
  // that as an empty RSV1 frame, which the server's inflater reads as the
  // start of a stored block: the next message failed (Python websockets
  // 1002, faye 1010, ws Z_DATA_ERROR). It must be the byte 00, an empty
  // stored block without its tail (deps/patch-lws.py, 9).
  it("'hello', '', 'x', '', '': each empty message is the byte 00 on the wire, and the stream inflates to all five", async () => {
    const server = await startRawServer(null, { defaultTimeoutMs: T });
    servers.push(server);
    const client = connectOnce(server.url);
    clients.push(client);
    const conn = await server.nextConnection(T);
    conn.accept({ 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    await withTimeout(client.opened, T, 'opened');
    const sent = ['hello', '', 'x', '', ''];
    for (const m of sent) client.send(m);
    const inflater = createInflateRaw();
    const payloads: Buffer[] = [];
    for (const m of sent) {
      const frame = await conn.nextFrame(T);
      expect({ fin: frame.fin, rsv: frame.rsv, opcode: frame.opcode }).toEqual({ fin: true, rsv: 0b100, opcode: F.Opcode.Text });
      payloads.push(frame.payload);
      // Inflated as a receiver does: the stream goes on, with the tail put back.
      const out = await inflateSome(inflater, Buffer.concat([frame.payload, Buffer.from([0, 0, 0xff, 0xff])]));
      expect(out.toString(), JSON.stringify(m)).toBe(m);
    }
    expect(payloads[1]).toEqual(Buffer.from([0]));
    expect(payloads[3]).toEqual(Buffer.from([0]));
    expect(payloads[4]).toEqual(Buffer.from([0]));
    inflater.close();
  });

  it("the same against ws's server: 'hello', '', 'x' all arrive", async () => {
    const s = await open({ threshold: 0 });
    for (const m of ['hello', '', 'x']) s.client.send(m);
    for (const m of ['hello', '', 'x']) await expectAtServer(s, Buffer.from(m), false, JSON.stringify(m));
    expect(s.conn.errors.map((e) => e.message)).toEqual([]);
    await finish(s);
  });
});

describe('compressed data that does not inflate (issue 15)', () => {
  // lws dropped TCP (1006, cause network, no error). Now: Close 1007 and an
  // error of its own, as ws does (deps/patch-lws.py, 10).
  async function corrupt(frames: Buffer[]): Promise<{ code: number; errors: WebSocketError[]; messages: Received[]; wire: number | undefined }> {
    const server = await startRawServer(null, { defaultTimeoutMs: T });
    servers.push(server);
    const client = connectOnce(server.url);
    clients.push(client);
    const errors: WebSocketError[] = [];
    const messages: Received[] = [];
    client.on('error', (e) => errors.push(e));
    client.on('message', (data, isBinary) => messages.push({ data, isBinary }));
    const closed = once<[number, string]>(client, 'close', T, { rejectOnError: false });
    const conn = await server.nextConnection(T);
    conn.accept({ 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    await withTimeout(client.opened, T, 'opened');
    for (const f of frames) conn.write(f);
    let wire: number | undefined;
    for (;;) {
      const frame = await conn.nextFrame(T);
      if (frame.opcode !== F.Opcode.Close) continue;
      wire = F.parseClose(frame.payload).code;
      break;
    }
    conn.write(F.close(wire ?? 1000));
    conn.end();
    const [code] = await closed;
    return { code, errors, messages, wire };
  }

  it('an invalid DEFLATE block: Close 1007 on the wire, close 1007 and ERR_INFLATE with zlib\'s reason', async () => {
    const ok = Buffer.from('before');
    const r = await corrupt([F.text(compressTail(ok), { rsv1: true }), F.text(Buffer.from([0xff, 0xee, 0xdd]), { rsv1: true }), F.text('after')]);
    expect(r.wire).toBe(1007);
    expect(r.code).toBe(1007);
    expect(r.errors.map((e) => e.code)).toEqual(['ERR_INFLATE']);
    expect(r.errors[0]?.message).toMatch(/zlib: invalid block type/);
    expect(r.messages).toEqual([{ data: 'before', isBinary: false }]);
  });

  // The failure comes in the first 2 KiB of a 70 KB frame; lws parses the
  // rest of it while waiting for the Close echo (its receive buffer was left
  // full on this path: the rest would have been written past its end).
  it('garbage at the start of a 70 KB compressed frame, then more frames: Close 1007, nothing after it delivered', async () => {
    const garbage = Buffer.concat([Buffer.from([0xff]), materialize({ binary: true, size: 70_000, style: 'random', seed: 3, cuts: [] })]);
    const more = compressTail(Buffer.from('more'));
    const r = await corrupt([F.binary(garbage, { rsv1: true }), F.binary(more, { rsv1: true }), F.text('plain')]);
    expect(r.wire).toBe(1007);
    expect(r.code).toBe(1007);
    expect(r.errors.map((e) => e.code)).toEqual(['ERR_INFLATE']);
    expect(r.messages).toEqual([]);
  });
});

describe('compressed data that does not inflate, with the server\'s Close right behind it', () => {
  // In the same segment: lws drops what follows the failure, sends our
  // Close, and the server's end of TCP answers it. (A Close read after the
  // failure while ours is still queued would have lws echo theirs in place
  // of ours: the glue drops TCP then, and our code stands.)
  it('close 1007 and ERR_INFLATE, not the server\'s code', async () => {
    const server = await startRawServer(null, { defaultTimeoutMs: T });
    servers.push(server);
    const client = connectOnce(server.url);
    clients.push(client);
    const errors: WebSocketError[] = [];
    client.on('error', (e) => errors.push(e));
    const closed = once<[number, string]>(client, 'close', T, { rejectOnError: false });
    const conn = await server.nextConnection(T);
    conn.accept({ 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    await withTimeout(client.opened, T, 'opened');
    conn.write(Buffer.concat([F.text(Buffer.from([0xff, 0xee]), { rsv1: true }), F.close(4001, 'bye')]));
    conn.end();
    expect((await closed)[0]).toBe(1007);
    expect(errors.map((e) => e.code)).toEqual(['ERR_INFLATE']);
  });
});

/** Compressed as a permessage-deflate sender does: a sync flush, its 00 00 ff ff cut. */
function compressTail(data: Buffer): Buffer {
  const out = deflateRawSync(data, { finishFlush: zlib.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** Writes `input` to a raw inflate stream and collects what it gives for it (flushed). */
function inflateSome(inflater: ReturnType<typeof createInflateRaw>, input: Buffer): Promise<Buffer> {
  return withTimeout(
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const onData = (d: Buffer): void => void chunks.push(d);
      inflater.on('data', onData);
      inflater.once('error', reject);
      inflater.write(input);
      inflater.flush(zlib.Z_SYNC_FLUSH, () => {
        inflater.off('data', onData);
        inflater.off('error', reject);
        resolve(Buffer.concat(chunks));
      });
    }),
    T,
    'inflate',
  );
}

/** fc.assert with the fixed seed; the failure names the seed and how to replay. */
async function check<Ts extends [unknown, ...unknown[]]>(property: fc.IAsyncProperty<Ts>, numRuns: number): Promise<number> {
  const runs = RUNS ?? numRuns;
  try {
    await fc.assert(property, { seed: SEED, numRuns: runs, endOnFailure: process.env.FC_NO_SHRINK === '1' });
  } catch (error) {
    const e = error as Error;
    e.message = `replay with DEFLATE_SEED=${SEED}\n${e.message}`;
    throw e;
  }
  return runs;
}

function serverOptions(p: DeflateParams, threshold: number) {
  return {
    serverMaxWindowBits: p.serverMaxWindowBits,
    clientMaxWindowBits: p.clientMaxWindowBits,
    serverNoContextTakeover: p.serverNoContextTakeover,
    clientNoContextTakeover: p.clientNoContextTakeover,
    threshold,
  };
}

/** The extension parameters the server answered with must be the ones asked for. */
function expectNegotiated(extensions: string, p: DeflateParams): void {
  expect(extensions).toContain(`server_max_window_bits=${p.serverMaxWindowBits}`);
  expect(extensions).toContain(`client_max_window_bits=${p.clientMaxWindowBits}`);
  expect(extensions.includes('server_no_context_takeover')).toBe(p.serverNoContextTakeover);
  expect(extensions.includes('client_no_context_takeover')).toBe(p.clientNoContextTakeover);
}

describe('round trips through permessage-deflate against ws (fast-check)', () => {
  it('server to client: every message arrives with its type and bytes, in order', async () => {
    const tally = new SequenceTally('ws, server to client', SEED);
    const runs = await check(
      fc.asyncProperty(paramsArb(), fc.constantFrom(0, 0, 0, 1024), sequenceArb(40), async (params, threshold, specs: MessageSpec[]) => {
        const s = await open(serverOptions(params, threshold));
        try {
          expectNegotiated(s.client.extensions, params);
          const sent = specs.map(materialize);
          specs.forEach((m, i) => {
            const pieces = splitAt(sent[i] as Buffer, cutOffsets(m));
            pieces.forEach((piece, k) => s.conn.ws.send(piece, { binary: m.binary, fin: k === pieces.length - 1 }));
          });
          await tally.expectEach(specs, sent, `${JSON.stringify(params)}, threshold ${threshold}`, (data, binary, label) => expectMessage(s, data, binary, label));
          await finish(s);
        } finally {
          s.client.terminate();
          await s.server.close();
        }
      }),
      100,
    );
    tally.report(runs);
  }, 180_000);

  it('client to server: the server gets every message with its type and bytes, in order', async () => {
    const tally = new SequenceTally('ws, client to server', SEED);
    // The client cuts messages into frames of fragmentSize bytes (before compression).
    const fragmentSizeArb = fc.constantFrom(64 * 1024, 64 * 1024, 16 * 1024, 4096, 1000);
    const runs = await check(
      fc.asyncProperty(paramsArb(), fragmentSizeArb, sequenceArb(40), async (params, fragmentSize, specs: MessageSpec[]) => {
        const s = await open(serverOptions(params, 0), { fragmentSize });
        try {
          expectNegotiated(s.client.extensions, params);
          const sent = specs.map(materialize);
          specs.forEach((m, i) => sendFromClient(s, sent[i] as Buffer, m.binary));
          await tally.expectEach(specs, sent, `${JSON.stringify(params)}, fragmentSize ${fragmentSize}`, (data, binary, label) => expectAtServer(s, data, binary, label));
          expect(s.conn.errors.map((e) => e.message)).toEqual([]);
          await finish(s);
        } finally {
          s.client.terminate();
          await s.server.close();
        }
      }),
      100,
    );
    tally.report(runs);
  }, 180_000);
});
