/**
 * The data path where deps/patch-lws.py changes lws. Receiving: a client
 * connection reads up to the per-thread buffer (64 KiB) at a time, and the
 * payload of an uncompressed data frame goes from that buffer straight to
 * our receive callback (fix 15); frame headers, control frames and
 * compressed messages go through lws's state machine and its 2 KiB
 * per-connection buffer (with a bulk copy for the middle of a payload, fix
 * 1). Sending: payload masking eight bytes at a time. These tests put frame
 * ends, buffer ends, read ends and TCP segment ends at every interesting
 * offset, over plain TCP and TLS, whole, fragmented, compressed and with a
 * reader paused between messages, and compare every byte. (Masked server
 * frames fail the connection: see protocol.test.ts.)
 */
import { createHash } from 'node:crypto';
import { constants as zlib, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { connectOnce, type WebSocketClient } from './lib';
import * as F from './helpers/frames';
import { Opcode } from './helpers/frames';
import { AsyncQueue } from './helpers/queue';
import { startRawServer, type RawConnection, type RawServer } from './helpers/raw-server';
import { startWsServer, type WsServer } from './helpers/ws-server';
import { makeCerts } from './helpers/certs';
import { endAfterEach, once, withTimeout } from './helpers/wait';

const T = 10_000;
const RX_BUFFER = 2048; // rx_buffer_size in native/connection/callback.cc
const READ_BUFFER = 64 * 1024; // pt_serv_buf_size in native/thread/service_thread.cc

const { clients, servers } = endAfterEach<WebSocketClient, RawServer | WsServer>();

interface Received {
  data: Buffer | string;
  isBinary: boolean;
}

async function open(): Promise<{ conn: RawConnection; next: () => Promise<Received> }> {
  const server = await startRawServer(null, { defaultTimeoutMs: T });
  servers.push(server);
  const client = connectOnce(server.url, { perMessageDeflate: false });
  clients.push(client);
  const queue = new AsyncQueue<Received>('message from server', T);
  client.on('message', (data, isBinary) => queue.push({ data, isBinary }));
  const conn = await server.nextConnection(T);
  conn.accept();
  await withTimeout(client.opened, T, 'opened');
  conn.socket.setNoDelay(true);
  return { conn, next: () => queue.next(T) };
}

/** Deterministic bytes: every payload differs from its neighbours. */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

const SIZES = [
  0, 1, 2, 3, 124, 125, 126, 127, 128,
  RX_BUFFER - 2, RX_BUFFER - 1, RX_BUFFER, RX_BUFFER + 1, RX_BUFFER + 2,
  2 * RX_BUFFER - 1, 2 * RX_BUFFER, 2 * RX_BUFFER + 1,
  65535, 65536, 65537, 100_003,
];

describe('receive path across buffer and segment boundaries', () => {
  it('delivers every byte of messages sized around the 2 KiB receive buffer, written in one go', async () => {
    const { conn, next } = await open();
    const payloads = SIZES.map((s, i) => pattern(s, i + 1));
    conn.write(Buffer.concat(payloads.map((p) => F.binary(p))));
    for (const p of payloads) {
      const m = await next();
      expect(m.isBinary).toBe(true);
      expect((m.data as Buffer).length).toBe(p.length);
      expect(sha(m.data)).toBe(sha(p));
    }
  });

  it('delivers every byte when the stream is cut into segments of awkward sizes', async () => {
    const { conn, next } = await open();
    const payloads = SIZES.map((s, i) => pattern(s, 100 + i));
    const wire = Buffer.concat(payloads.map((p) => F.binary(p)));
    // Segment sizes cycle through values that land cuts inside headers,
    // one byte before and after buffer ends, and mid-payload.
    const cuts = [1, 2, 7, RX_BUFFER - 1, 1, RX_BUFFER + 3, 13, 4093, 65_521];
    const writes: Promise<void>[] = [];
    for (let off = 0, i = 0; off < wire.length; i++) {
      const n = Math.min(cuts[i % cuts.length] as number, wire.length - off);
      writes.push(new Promise((resolve) => conn.socket.write(wire.subarray(off, off + n), () => resolve())));
      off += n;
    }
    for (const p of payloads) {
      const m = await next();
      expect(sha(m.data)).toBe(sha(p));
    }
    await Promise.all(writes);
  });

  it('reassembles fragmented text with control frames between fragments larger than the buffer', async () => {
    const { conn, next } = await open();
    const text = 'ü€𝄞abc'.repeat(1500); // multi-byte characters straddle buffer ends
    const bytes = Buffer.from(text, 'utf8');
    const a = bytes.subarray(0, RX_BUFFER * 2 + 1);
    const b = bytes.subarray(RX_BUFFER * 2 + 1);
    conn.write(F.encodeFrame({ opcode: Opcode.Text, payload: a, fin: false }));
    conn.write(F.ping('between'));
    conn.write(F.continuation(b, true));
    const m = await next();
    expect(m.isBinary).toBe(false);
    expect(m.data).toBe(text);
  });

  it('inflates permessage-deflate messages of every size, compressible and not, byte for byte', async () => {
    const server = await startWsServer({ perMessageDeflate: { threshold: 0 }, defaultTimeoutMs: T });
    servers.push(server);
    const client = connectOnce(server.url);
    clients.push(client);
    const queue = new AsyncQueue<Received>('message from server', T);
    client.on('message', (data, isBinary) => queue.push({ data, isBinary }));
    const conn = await server.nextConnection(T);
    await withTimeout(client.opened, T, 'opened');
    expect(client.extensions).toContain('permessage-deflate');
    const payloads = SIZES.flatMap((s, i) => [pattern(s, 200 + i), Buffer.alloc(s, i & 0xff)]);
    for (const p of payloads) conn.ws.send(p, { binary: true });
    for (const p of payloads) {
      const m = await queue.next(T);
      expect(sha(m.data)).toBe(sha(p));
    }
  });
});

describe('send path: small messages framed together', () => {
  // Small whole messages queued together are framed and masked by the
  // addon and written in one go (native/connection/frame_writer.cc); large,
  // fragmented and compressed ones go through lws. Mixed, in order, byte for byte.
  it('the server gets every message intact and in order: bursts of small text and binary between large and fragmented ones', async () => {
    const server = await startWsServer({ defaultTimeoutMs: T });
    servers.push(server);
    const client = connectOnce(server.url, { perMessageDeflate: false, fragmentSize: 20_000 });
    clients.push(client);
    const conn = await server.nextConnection(T);
    await withTimeout(client.opened, T, 'opened');
    const sent: Array<Buffer | string> = [];
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 200; i++) {
        const size = (i * 37 + round) % 300;
        sent.push(i % 3 === 0 ? 'é'.repeat(size % 50) + String(i) : pattern(size, round * 1000 + i));
      }
      sent.push(pattern([126, 65_535, 65_536, 8192, 8193, 50_000][round % 6] as number, round));
    }
    for (const m of sent) client.send(m);
    for (const [i, m] of sent.entries()) {
      const got = await conn.nextMessage(T);
      if (typeof m === 'string') expect(got.data.toString(), `message ${i}`).toBe(m);
      else expect(sha(got.data), `message ${i} (${m.length} B)`).toBe(sha(m));
    }
  });
});

describe('send path: masking', () => {
  it('the server unmasks every byte of messages of every length and alignment, whole and fragmented', async () => {
    const server = await startWsServer({ defaultTimeoutMs: T });
    servers.push(server);
    const sizes = [...Array.from({ length: 20 }, (_, i) => i), 125, 126, 127, 2047, 2048, 2049, 65535, 65536, 65537, 100_003];
    for (const fragmentSize of [64 * 1024, 1001]) {
      const client = connectOnce(server.url, { perMessageDeflate: false, fragmentSize });
      clients.push(client);
      const conn = await server.nextConnection(T);
      await withTimeout(client.opened, T, 'opened');
      const payloads = sizes.map((s, i) => pattern(s, 300 + i));
      for (const p of payloads) client.send(p);
      for (const p of payloads) {
        const m = await conn.nextMessage(T);
        expect(sha(m.data), `${p.length} B, fragmentSize ${fragmentSize}`).toBe(sha(p));
      }
    }
  });
});

// --- reads of the whole per-thread buffer, payload straight from it -------

const certs = makeCerts();

interface Opened {
  conn: RawConnection;
  client: WebSocketClient;
  next: () => Promise<Received>;
  closed: Promise<[number, string]>;
}

/**
 * A raw server (TLS with `tls`) that accepts with permessage-deflate when
 * `deflate`; the client with `options` (receiveHighWaterMark for a paused
 * reader).
 */
async function openWith(opts: { tls?: boolean; deflate?: boolean; receiveHighWaterMark?: number }): Promise<Opened> {
  const server = await startRawServer(null, {
    defaultTimeoutMs: T,
    ...(opts.tls ? { tls: { key: certs.valid.key, cert: certs.valid.cert } } : {}),
  });
  servers.push(server);
  const client = connectOnce(server.url, {
    perMessageDeflate: opts.deflate === true,
    ...(opts.tls ? { ca: certs.ca.cert } : {}),
    ...(opts.receiveHighWaterMark !== undefined ? { receiveHighWaterMark: opts.receiveHighWaterMark } : {}),
  });
  clients.push(client);
  const queue = new AsyncQueue<Received>('message from server', T);
  client.on('message', (data, isBinary) => queue.push({ data, isBinary }));
  const closed = once<[number, string]>(client, 'close', T, { rejectOnError: false });
  const conn = await server.nextConnection(T);
  conn.accept(opts.deflate ? { 'Sec-WebSocket-Extensions': 'permessage-deflate' } : {});
  await withTimeout(client.opened, T, 'opened');
  conn.socket.setNoDelay(true);
  return { conn, client, next: () => queue.next(T), closed };
}

/** Writes `wire` in segments whose sizes cycle through `cuts`; resolves when all are written. */
function writeInSegments(conn: RawConnection, wire: Buffer, cuts: readonly number[]): Promise<void> {
  const writes: Promise<void>[] = [];
  for (let off = 0, i = 0; off < wire.length; i++) {
    const n = Math.min(cuts[i % cuts.length] as number, wire.length - off);
    writes.push(new Promise((resolve) => conn.socket.write(wire.subarray(off, off + n), () => resolve())));
    off += n;
  }
  return Promise.all(writes).then(() => undefined);
}

/** A compressed message (RFC 7692: raw DEFLATE, sync flush, 00 00 ff ff cut), independent of earlier ones. */
function deflated(data: Buffer): Buffer {
  const out = deflateRawSync(data, { finishFlush: zlib.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

interface Message {
  payload: Buffer;
  text: boolean;
  /** Frames on the wire for it (fragments, PINGs between, compression). */
  frames: Buffer[];
}

/**
 * Messages whose sizes walk across the 64 KiB read buffer and the 2 KiB
 * lws buffer at many offsets: frame headers of 2, 4 and 10 bytes land on
 * read ends. Some are fragmented (with a PING between fragments), some
 * are text with multi-byte characters cut between fragments, some are
 * compressed (with `deflate`), whole or fragmented.
 */
function messages(seed: number, deflate: boolean): Message[] {
  const out: Message[] = [];
  const sizes = [
    0, 1, 125, 126, 127, 2047, 2048, 2049, READ_BUFFER - 14, READ_BUFFER - 10, READ_BUFFER - 4,
    READ_BUFFER - 1, READ_BUFFER, READ_BUFFER + 1, 3 * READ_BUFFER + 5, 100_003,
  ];
  for (let i = 0; i < 40; i++) sizes.push(1 + ((i * 7919 + seed * 104_729) % 9000));
  sizes.forEach((size, i) => {
    const kind = (i + seed) % 5;
    if (kind === 1 && size > 2) {
      // Fragmented binary, a PING between its fragments.
      const payload = pattern(size, seed * 1000 + i);
      const a = Math.max(1, Math.floor(size / 3));
      const b = Math.max(a + 1, Math.floor((size * 2) / 3));
      out.push({
        payload,
        text: false,
        frames: [
          F.encodeFrame({ opcode: Opcode.Binary, payload: payload.subarray(0, a), fin: false }),
          F.ping('p'),
          F.continuation(payload.subarray(a, b), false),
          F.continuation(payload.subarray(b), true),
        ],
      });
    } else if (kind === 2) {
      // Text with multi-byte characters, cut inside a character.
      const s = 'aü€𝄞'.repeat(Math.ceil(size / 10) + 1);
      const payload = Buffer.from(s, 'utf8');
      const cut = Math.min(payload.length - 1, 2 + (i % 3));
      out.push({
        payload,
        text: true,
        frames: [
          F.encodeFrame({ opcode: Opcode.Text, payload: payload.subarray(0, cut), fin: false }),
          F.continuation(payload.subarray(cut), true),
        ],
      });
    } else if (kind === 3 && deflate) {
      // Compressed: compressible or not, whole or in two fragments.
      const payload = i % 2 ? pattern(size, seed * 1000 + i) : Buffer.alloc(size, i & 0xff);
      const z = deflated(payload);
      const frames =
        z.length > 4 && i % 4 === 1
          ? [
              F.encodeFrame({ opcode: Opcode.Binary, payload: z.subarray(0, 3), fin: false, rsv1: true }),
              F.ping('in a compressed message'),
              F.continuation(z.subarray(3), true),
            ]
          : [F.binary(z, { rsv1: true })];
      out.push({ payload, text: false, frames });
    } else {
      const payload = pattern(size, seed * 1000 + i);
      out.push({ payload, text: false, frames: [F.binary(payload)] });
    }
  });
  return out;
}

async function expectAll(next: () => Promise<Received>, list: readonly Message[]): Promise<void> {
  for (const [i, m] of list.entries()) {
    const got = await next();
    expect(got.isBinary, `message ${i}`).toBe(!m.text);
    if (m.text) expect(got.data, `message ${i}`).toBe(m.payload.toString('utf8'));
    else expect(sha(got.data), `message ${i} (${m.payload.length} B)`).toBe(sha(m.payload));
  }
}

const CUTS = [1, 2, 9, READ_BUFFER - 3, 1, READ_BUFFER + 7, 13, 4093, 2 * READ_BUFFER + 11];

describe('receive path: whole-buffer reads, payload straight from the read buffer', () => {
  for (const tls of [false, true]) {
    const over = tls ? 'TLS' : 'plain TCP';
    for (const deflate of [false, true]) {
      const what = deflate ? 'plain, fragmented and compressed' : 'whole, fragmented and text';
      it(`${over}: ${what} messages around read ends, in one write and in awkward segments`, async () => {
        const { conn, next } = await openWith({ tls, deflate });
        const one = messages(1, deflate);
        conn.write(Buffer.concat(one.flatMap((m) => m.frames)));
        await expectAll(next, one);
        const two = messages(2, deflate);
        const written = writeInSegments(conn, Buffer.concat(two.flatMap((m) => m.frames)), CUTS);
        await expectAll(next, two);
        await written;
      });

      it(`${over}: a reader paused after every message (receiveHighWaterMark 1) loses and reorders nothing, ${deflate ? 'compressed' : 'fragmented'} messages too, and the Close after them in the same write arrives last`, async () => {
        const { conn, next, closed } = await openWith({ tls, deflate, receiveHighWaterMark: 1 });
        const list = [...messages(3, deflate), ...messages(4, deflate)];
        conn.write(Buffer.concat([...list.flatMap((m) => m.frames), F.close(4001, 'done')]));
        conn.end();
        await expectAll(next, list);
        const [code, reason] = await closed;
        expect(code).toBe(4001);
        expect(reason).toBe('done');
      });
    }
  }

  it('TLS: hundreds of 512-byte records waiting in one read-ahead buffer are all read, and the connection stays', async () => {
    // With read-ahead one read() takes up to 64 KiB of records; lws's read
    // loop used to give up (closing the connection) after 100 records in a
    // row (deps/patch-lws.py, 16).
    const { conn, next, client } = await openWith({ tls: true });
    let closed = false;
    client.on('close', () => {
      closed = true;
    });
    (conn.socket as import('node:tls').TLSSocket).setMaxSendFragment(512);
    const list = [...messages(5, false), ...messages(6, false), ...messages(7, false)];
    conn.write(Buffer.concat(list.flatMap((m) => m.frames)));
    await expectAll(next, list);
    // Small frames, many per record.
    const small = Array.from({ length: 5000 }, (_, i) => pattern(1 + (i % 40), 9000 + i));
    conn.write(Buffer.concat(small.map((p) => F.binary(p))));
    for (const p of small) expect(sha((await next()).data)).toBe(sha(p));
    expect(closed).toBe(false);
  });

  it('a Close in the middle of a read: what came before it is delivered, what follows it is not', async () => {
    const { conn, client, closed } = await openWith({});
    const got: Buffer[] = [];
    client.on('message', (data) => got.push(data as Buffer));
    const a = pattern(3000, 7);
    const b = pattern(70_000, 8);
    conn.write(Buffer.concat([F.binary(a), F.binary(b), F.close(1000, 'bye'), F.binary(pattern(500, 9))]));
    conn.end();
    const [code, reason] = await closed;
    expect(code).toBe(1000);
    expect(reason).toBe('bye');
    expect(got.map(sha)).toEqual([sha(a), sha(b)]);
  });

  it('a message larger than maxPayload fails with 1009 when its header arrives, mid-read', async () => {
    const server = await startRawServer(null, { defaultTimeoutMs: T });
    servers.push(server);
    const client = connectOnce(server.url, { perMessageDeflate: false, maxPayload: 10_000 });
    clients.push(client);
    client.on('error', () => {}); // expected: ERR_MESSAGE_TOO_BIG
    const got: Buffer[] = [];
    client.on('message', (data) => got.push(data as Buffer));
    const closed = once<[number, string]>(client, 'close', T, { rejectOnError: false });
    const conn = await server.nextConnection(T);
    conn.accept();
    await withTimeout(client.opened, T, 'opened');
    const ok = pattern(10_000, 10);
    conn.write(Buffer.concat([F.binary(ok), F.binary(pattern(10_001, 11)), F.binary(pattern(10, 12))]));
    const frame = await conn.nextFrame(T);
    expect(frame.opcode).toBe(Opcode.Close);
    expect(F.parseClose(frame.payload).code).toBe(1009);
    conn.write(F.close(1009));
    conn.end();
    const [code] = await closed;
    expect(code).toBe(1009);
    expect(got.map(sha)).toEqual([sha(ok)]);
  });
});

describe('receive path: streams of small messages gathered into larger batches', () => {
  // After a service turn that received at least 16 KiB of small messages,
  // the service thread reads on without waiting and hands JS up to 1 MiB
  // at once (native/thread/service_thread.cc); chunks JS has freed are reused
  // (native/event_batch.cc). A stream several batches long, with a large
  // message, a PING and a Close in it, arrives whole, in order, last byte
  // included, also when the reader pauses well below a batch.
  for (const tls of [false, true]) {
    for (const receiveHighWaterMark of [undefined, 100_000]) {
      const over = `${tls ? 'TLS' : 'plain TCP'}${receiveHighWaterMark ? ', receiveHighWaterMark 100,000' : ''}`;
      it(`${over}: 3,000 messages of 1-2,000 bytes (~3 MiB), a 70 KiB one and a PING among them, then a Close`, async () => {
        const { conn, next, closed } = await openWith({ tls, ...(receiveHighWaterMark ? { receiveHighWaterMark } : {}) });
        const payloads: Buffer[] = [];
        const frames: Buffer[] = [];
        for (let i = 0; i < 3000; i++) {
          const p = pattern(i === 2000 ? 70_000 : 1 + ((i * 7919) % 2000), 5000 + i);
          payloads.push(p);
          frames.push(F.binary(p));
          if (i === 1000) frames.push(F.ping('in the stream'));
        }
        const written = writeInSegments(conn, Buffer.concat([...frames, F.close(4002, 'end')]), [65_536, 300_001, 1, 4093]);
        const got: string[] = [];
        for (let i = 0; i < payloads.length; i++) got.push(sha((await next()).data));
        expect(got).toEqual(payloads.map(sha));
        await written;
        conn.end();
        const [code, reason] = await closed;
        expect(code).toBe(4002);
        expect(reason).toBe('end');
      });
    }
  }
});
