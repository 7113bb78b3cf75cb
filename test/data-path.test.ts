/**
 * The data path where deps/patch-lws.py changes lws. Receiving: lws's client
 * parser gets a bulk copy for the middle of a frame's payload; the last byte
 * of a frame or of the 2 KiB receive buffer still goes through lws's state
 * machine. Sending: payload masking eight bytes at a time. These tests put frame ends, buffer ends and TCP
 * segment ends at every interesting offset and compare every byte. (Masked
 * server frames, which skip the bulk copy, fail the connection: see
 * protocol.test.ts.)
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { connectOnce, type WebSocketClient } from './lib';
import * as F from './helpers/frames';
import { Opcode } from './helpers/frames';
import { AsyncQueue } from './helpers/queue';
import { startRawServer, type RawConnection, type RawServer } from './helpers/raw-server';
import { startWsServer, type WsServer } from './helpers/ws-server';
import { withTimeout } from './helpers/wait';

const T = 10_000;
const RX_BUFFER = 2048; // rx_buffer_size in native/lws_glue.cc

const clients: WebSocketClient[] = [];
const servers: Array<RawServer | WsServer> = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

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
