/**
 * After close(), messages keep arriving until the server's Close. RFC 6455
 * 5.5.1 forbids sending data after a Close, not receiving it: a server that
 * got our Close may still be flushing what it had queued (an echo, the end
 * of a feed) before it answers. ws and Python websockets deliver those
 * messages; lws dropped every data frame once our Close was on the wire
 * (deps/patch-lws.py, 19). Here a raw server reads the client's Close and
 * only then writes messages (whole, large, fragmented with a PING between,
 * text, compressed) and its Close, over plain TCP and TLS: every message
 * must reach 'message', in order and byte for byte, before 'close'.
 */
import { createHash } from 'node:crypto';
import { constants as zlib, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { connectOnce, type WebSocketClient } from './lib';
import * as F from './helpers/frames';
import { Opcode, parseClose, type DecodedFrame } from './helpers/frames';
import { startRawServer, type RawConnection, type RawServer } from './helpers/raw-server';
import { makeCerts } from './helpers/certs';
import { endAfterEach, once, withTimeout } from './helpers/wait';

const T = 10_000;
const certs = makeCerts();
const { clients, servers } = endAfterEach<WebSocketClient, RawServer>();

interface Received {
  data: Buffer | string;
  isBinary: boolean;
}

interface Outgoing {
  payload: Buffer;
  text: boolean;
  frames: Buffer[];
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

/** RFC 7692: raw DEFLATE, sync flush, the 00 00 ff ff tail cut. */
function deflated(data: Buffer): Buffer {
  const out = deflateRawSync(data, { finishFlush: zlib.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

function outgoing(deflate: boolean): Outgoing[] {
  const big = pattern(200_003, 1); // spans several 64 KiB reads
  const frag = pattern(5000, 2);
  const text = Buffer.from('still flushing ✓ '.repeat(40), 'utf8');
  const list: Outgoing[] = [
    { payload: Buffer.from('echo last'), text: true, frames: [F.text('echo last')] },
    { payload: big, text: false, frames: [F.binary(big)] },
    {
      payload: frag,
      text: false,
      frames: [
        F.encodeFrame({ opcode: Opcode.Binary, payload: frag.subarray(0, 1000), fin: false }),
        F.ping('between fragments'),
        F.continuation(frag.subarray(1000, 3000), false),
        F.continuation(frag.subarray(3000), true),
      ],
    },
    {
      payload: text,
      text: true,
      frames: [
        F.encodeFrame({ opcode: Opcode.Text, payload: text.subarray(0, 17), fin: false }), // inside ✓
        F.continuation(text.subarray(17), true),
      ],
    },
    { payload: Buffer.alloc(0), text: false, frames: [F.binary(Buffer.alloc(0))] },
  ];
  if (deflate) {
    const z = Buffer.alloc(70_000, 0x5a);
    const zr = pattern(3000, 3);
    list.push({ payload: z, text: false, frames: [F.binary(deflated(z), { rsv1: true })] });
    const d = deflated(zr);
    list.push({
      payload: zr,
      text: false,
      frames: [
        F.encodeFrame({ opcode: Opcode.Binary, payload: d.subarray(0, 5), fin: false, rsv1: true }),
        F.continuation(d.subarray(5), true),
      ],
    });
  }
  list.push({ payload: Buffer.from('the end'), text: true, frames: [F.text('the end')] });
  return list;
}

async function closeFrameFrom(conn: RawConnection): Promise<{ frame: DecodedFrame; before: number[] }> {
  const before: number[] = [];
  for (;;) {
    const frame = await conn.nextFrame(T);
    if (frame.opcode === Opcode.Close) return { frame, before };
    before.push(frame.opcode);
  }
}

describe('messages the server sends after the client has sent its Close', () => {
  for (const tls of [false, true]) {
    for (const deflate of [false, true]) {
      const what = `${tls ? 'TLS' : 'plain TCP'}, ${deflate ? 'permessage-deflate' : 'no compression'}`;
      it(`are all delivered, in order, before 'close' (${what})`, async () => {
        const server = await startRawServer(null, {
          defaultTimeoutMs: T,
          ...(tls ? { tls: { key: certs.valid.key, cert: certs.valid.cert } } : {}),
        });
        servers.push(server);
        const client = connectOnce(server.url, { perMessageDeflate: deflate, ...(tls ? { ca: certs.ca.cert } : {}) });
        clients.push(client);
        const got: Received[] = [];
        client.on('message', (data, isBinary) => got.push({ data, isBinary }));
        const errors: Error[] = [];
        client.on('error', (e) => errors.push(e));
        const closed = once<[number, string]>(client, 'close', T, { rejectOnError: false });
        const conn = await server.nextConnection(T);
        conn.accept(deflate ? { 'Sec-WebSocket-Extensions': 'permessage-deflate' } : {});
        await withTimeout(client.opened, T, 'opened');

        const closing = client.close(4000, 'client done');
        const { frame } = await closeFrameFrom(conn);
        expect(parseClose(frame.payload)).toEqual({ code: 4000, reason: 'client done' });

        const list = outgoing(deflate);
        conn.write(Buffer.concat(list.flatMap((m) => m.frames)));
        conn.write(F.close(4000, 'client done'));
        const [code, reason] = await closed;
        await withTimeout(closing, T, 'close() settles');

        expect({ code, reason }).toEqual({ code: 4000, reason: 'client done' });
        expect(errors).toEqual([]);
        expect(got.map((m) => m.isBinary)).toEqual(list.map((m) => !m.text));
        for (const [i, m] of list.entries()) {
          const data = got[i]?.data ?? '';
          if (m.text) expect(data, `message ${i}`).toBe(m.payload.toString('utf8'));
          else expect(sha(data), `message ${i} (${m.payload.length} B)`).toBe(sha(m.payload));
        }
        // The client sent nothing but its one Close: after it no data frames
        // (RFC 6455 5.5.1) and no second Close.
        conn.end();
        await conn.waitClosed(T);
      });
    }
  }

  it('are delivered when the server writes them one byte at a time', async () => {
    const server = await startRawServer(null, { defaultTimeoutMs: T });
    servers.push(server);
    const client = connectOnce(server.url, { perMessageDeflate: false });
    clients.push(client);
    const got: string[] = [];
    client.on('message', (data) => got.push(String(data)));
    const closed = once<[number, string]>(client, 'close', T, { rejectOnError: false });
    const conn = await server.nextConnection(T);
    conn.accept();
    await withTimeout(client.opened, T, 'opened');
    conn.socket.setNoDelay(true);
    void client.close();
    await closeFrameFrom(conn);
    const wire = Buffer.concat([F.text('one'), F.text('two'), F.close(1000)]);
    for (let i = 0; i < wire.length; i++) {
      await new Promise<void>((resolve) => conn.socket.write(wire.subarray(i, i + 1), () => resolve()));
    }
    expect((await closed)[0]).toBe(1000);
    expect(got).toEqual(['one', 'two']);
  });
});
