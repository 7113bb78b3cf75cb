/**
 * Proves the test helpers in test/helpers/ work, using the `ws` package's
 * client as an independent peer.
 */
import { EventEmitter } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import { makeCerts } from './helpers/certs.js';
import { startConnectProxy } from './helpers/connect-proxy.js';
import * as frames from './helpers/frames.js';
import { FrameReader, Opcode, parseClose } from './helpers/frames.js';
import { startRawServer } from './helpers/raw-server.js';
import { startWsServer } from './helpers/ws-server.js';
import { once, TimeoutError, waitFor, withTimeout } from './helpers/wait.js';

const T = 5000;

/** ws passes TLS options such as `servername` through to tls.connect; its types omit them. */
type Options = ClientOptions & Pick<ConnectionOptions, 'servername'>;

// Everything started in a test is closed afterwards, even when the test fails.
const cleanups: Array<() => Promise<void> | void> = [];
function track<C extends { close(): Promise<void> }>(closable: C): C {
  cleanups.push(() => closable.close());
  return closable;
}
function trackClient(ws: WebSocket): WebSocket {
  ws.on('error', () => {
    // Expected in failure tests; assertions use the captured promise instead.
  });
  cleanups.push(() => ws.terminate());
  return ws;
}
afterEach(async () => {
  const pending = cleanups.splice(0).reverse();
  for (const cleanup of pending) await cleanup();
});

function client(url: string, options: Options = {}): WebSocket {
  return trackClient(new WebSocket(url, options));
}

async function open(url: string, options: Options = {}): Promise<WebSocket> {
  const ws = client(url, options);
  await once(ws, 'open', T);
  return ws;
}

/** Connect and expect the client to fail; returns the error it emitted. */
async function clientError(url: string, options: Options = {}): Promise<Error & { code?: string }> {
  const ws = new WebSocket(url, options);
  cleanups.push(() => ws.terminate());
  const [error] = await once<[Error & { code?: string }]>(ws, 'error', T);
  return error;
}

async function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  const [data, isBinary] = await once<[Buffer, boolean]>(ws, 'message', T);
  return { data, isBinary };
}

describe('frames', () => {
  it('chooses 7/16/64-bit lengths and round-trips masked frames through FrameReader', () => {
    expect(frames.text('hi').subarray(0, 2)).toEqual(Buffer.from([0x81, 2]));
    expect(frames.binary(Buffer.alloc(126))[1]).toBe(126);
    expect(frames.binary(Buffer.alloc(65536))[1]).toBe(127);

    const big = Buffer.alloc(70_000, 7);
    const wire = Buffer.concat([
      frames.text('héllo', { mask: true, fin: false, rsv1: true }),
      frames.continuation(big, true, { mask: Buffer.from([1, 2, 3, 4]) }),
      frames.close(1009, 'too big', { mask: true }),
    ]);
    const reader = new FrameReader();
    const out: frames.DecodedFrame[] = [];
    for (let i = 0; i < wire.length; i += 1000) out.push(...reader.push(wire.subarray(i, i + 1000)));
    expect(reader.pendingBytes).toBe(0);
    expect(out.map((f) => [f.opcode, f.fin, f.rsv, f.masked])).toEqual([
      [Opcode.Text, false, 0b100, true],
      [Opcode.Continuation, true, 0, true],
      [Opcode.Close, true, 0, true],
    ]);
    expect(out[0]?.payload.toString()).toBe('héllo');
    expect(out[1]?.payload.equals(big)).toBe(true);
    expect(parseClose(out[2]?.payload ?? Buffer.alloc(0))).toEqual({ code: 1009, reason: 'too big' });
  });

  it('supports empty close, lying lengths and forced length encodings', () => {
    expect(frames.close()).toEqual(Buffer.from([0x88, 0]));
    const lying = frames.binary('abc', { declaredLength: 2n ** 63n });
    expect(lying[1]).toBe(127);
    expect(lying.readBigUInt64BE(2)).toBe(2n ** 63n);
    expect(lying.subarray(10).toString()).toBe('abc');
    const padded = frames.text('x', { lengthBits: 16 });
    expect([...padded.subarray(0, 4)]).toEqual([0x81, 126, 0, 1]);
    expect(() => new FrameReader({ maxPayload: 10 }).push(lying)).toThrow(/payload bytes/);
    expect(frames.fragmented(Opcode.Text, ['a', 'b', 'c']).map((f) => f[0])).toEqual([0x01, 0x00, 0x80]);
  });
});

describe('raw server', () => {
  it('accepts a ws client, sends frames and reads the masked frames it sends', async () => {
    const server = track(
      await startRawServer((conn) => {
        conn.accept({ 'X-Test': 'yes' }, { appendData: frames.text('same segment') });
        conn.write(frames.ping('p1'));
      }),
    );
    const ws = client(`${server.url}/path?q=1`, { headers: { 'X-Custom': 'abc' } });
    const firstMessage = once<[Buffer]>(ws, 'message', T);
    await once(ws, 'open', T);
    expect((await firstMessage)[0].toString()).toBe('same segment');

    const conn = await server.nextConnection();
    expect(conn.request.method).toBe('GET');
    expect(conn.request.path).toBe('/path?q=1');
    expect(conn.request.headers['upgrade']?.toLowerCase()).toBe('websocket');
    expect(conn.request.headers['sec-websocket-version']).toBe('13');
    expect(conn.request.headers['x-custom']).toBe('abc');

    // ws answers our ping with a (masked) pong carrying the same payload.
    const pongFrame = await conn.nextFrame();
    expect(pongFrame).toMatchObject({ opcode: Opcode.Pong, masked: true, fin: true });
    expect(pongFrame.payload.toString()).toBe('p1');

    ws.send('hello');
    const textFrame = await conn.nextFrame();
    expect(textFrame).toMatchObject({ opcode: Opcode.Text, masked: true, fin: true, rsv: 0 });
    expect(textFrame.payload.toString()).toBe('hello');

    conn.write(frames.binary(Buffer.from([1, 2, 3])));
    const reply = await nextMessage(ws);
    expect(reply.isBinary).toBe(true);
    expect([...reply.data]).toEqual([1, 2, 3]);

    ws.close(4000, 'bye');
    const closeFrame = await conn.nextFrame();
    expect(closeFrame.opcode).toBe(Opcode.Close);
    expect(parseClose(closeFrame.payload)).toEqual({ code: 4000, reason: 'bye' });
    conn.write(frames.close(4000));
    conn.end();
    await conn.waitClosed();
    await expect(conn.nextFrame(100)).rejects.toThrow(/no more items/);
    expect(server.connections).toBe(1);
    expect(server.errors).toEqual([]);
  });

  it('reject(401) makes ws emit unexpected-response with 401', async () => {
    const server = track(await startRawServer((conn) => conn.reject(401, { 'WWW-Authenticate': 'Basic' }, 'no')));
    const ws = client(server.url);
    const [, res] = await once<[unknown, IncomingMessage]>(ws, 'unexpected-response', T);
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic');
    res.resume();
  });

  it('a wrong Sec-WebSocket-Accept makes ws fail', async () => {
    const server = track(await startRawServer((conn) => conn.accept({}, { acceptKey: 'd3JvbmcK' })));
    const error = await clientError(server.url);
    expect(error.message).toMatch(/Sec-WebSocket-Accept/);
  });

  it('can accept TCP and never answer; close() destroys the socket', async () => {
    const server = track(await startRawServer(() => undefined));
    const ws = new WebSocket(server.url, { handshakeTimeout: 300 });
    cleanups.push(() => ws.terminate());
    const conn = await server.nextConnection();
    expect(server.openSockets).toBe(1);
    const [error] = await once<[Error]>(ws, 'error', T);
    expect(error.message).toMatch(/handshake has timed out/);
    await conn.waitClosed();

    const ws2 = client(server.url);
    const conn2 = await server.nextConnection();
    // The handshake never finished, so ws reports an error and then close 1006.
    const closed = once<[number]>(ws2, 'close', T, { rejectOnError: false });
    await server.close();
    await conn2.waitClosed();
    expect((await closed)[0]).toBe(1006);
  });

  it('iterates client frames (fragments) until the connection ends', async () => {
    const server = track(await startRawServer((conn) => conn.accept()));
    const ws = await open(server.url);
    const conn = await server.nextConnection();
    ws.send('frag-', { fin: false });
    ws.send('ment', { fin: true });
    await conn.nextFrame().then((first) => {
      expect(first).toMatchObject({ opcode: Opcode.Text, fin: false });
      expect(first.payload.toString()).toBe('frag-');
    });
    ws.terminate();
    const rest: frames.DecodedFrame[] = [];
    for await (const frame of conn.frames) rest.push(frame);
    expect(rest.map((f) => [f.opcode, f.fin, f.payload.toString()])).toEqual([[Opcode.Continuation, true, 'ment']]);
  });

  it('listens on ::1', async () => {
    const server = track(await startRawServer((conn) => conn.accept(), { host: '::1' }));
    expect(server.url).toBe(`ws://[::1]:${server.port}`);
    const ws = await open(server.url);
    const conn = await server.nextConnection();
    expect(conn.socket.remoteAddress).toBe('::1');
    ws.send('v6');
    expect((await conn.nextFrame()).payload.toString()).toBe('v6');
  });
});

describe('ws server', () => {
  it('echoes text and binary with the same type and records messages', async () => {
    const server = track(await startWsServer({ echo: true }));
    const ws = await open(`${server.url}/echo`);
    const conn = await server.nextConnection();
    expect(conn.request.url).toBe('/echo');

    ws.send('text');
    const textReply = await nextMessage(ws);
    expect(textReply).toEqual({ data: Buffer.from('text'), isBinary: false });
    ws.send(Buffer.from([9, 8]));
    const binReply = await nextMessage(ws);
    expect(binReply).toEqual({ data: Buffer.from([9, 8]), isBinary: true });

    expect(await conn.nextMessage()).toEqual({ data: Buffer.from('text'), isBinary: false });
    expect(await conn.nextMessage()).toEqual({ data: Buffer.from([9, 8]), isBinary: true });
    ws.close(1000, 'done');
    expect(await conn.waitClose()).toEqual({ code: 1000, reason: 'done' });
  });

  it('close() terminates connected clients', async () => {
    const server = track(await startWsServer());
    const ws = await open(server.url);
    await server.nextConnection();
    const closed = once<[number]>(ws, 'close', T);
    await server.close();
    expect((await closed)[0]).toBe(1006);
  });
});

describe('certs + TLS', () => {
  const certs = makeCerts();

  it('valid cert signed by the CA works (by IP and as localhost)', async () => {
    const server = track(await startWsServer({ tls: certs.valid, echo: true }));
    expect(server.url.startsWith('wss://127.0.0.1:')).toBe(true);
    const ws = await open(server.url, { ca: certs.ca.cert });
    ws.send('secure');
    expect((await nextMessage(ws)).data.toString()).toBe('secure');
    await open(server.url, { ca: certs.ca.cert, servername: 'localhost' });
  });

  it.each([
    ['expired', 'CERT_HAS_EXPIRED'],
    ['notYetValid', 'CERT_NOT_YET_VALID'],
    ['wrongHost', 'ERR_TLS_CERT_ALTNAME_INVALID'],
    ['selfSigned', 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  ] as const)('%s cert fails with %s', async (which, code) => {
    const server = track(await startWsServer({ tls: certs[which] }));
    const error = await clientError(server.url, { ca: certs.ca.cert });
    expect(error.code).toBe(code);
    expect(server.connections).toBe(0);
  });

  it('mutual TLS: client cert signed by the CA is accepted, missing cert is refused', async () => {
    const server = track(
      await startWsServer({ tls: { ...certs.valid, ca: certs.ca.cert, requestCert: true } }),
    );
    await open(server.url, { ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key });
    const conn = await server.nextConnection();
    const peer = (conn.request.socket as TLSSocket).getPeerCertificate();
    expect(peer.subject.CN).toBe('test-client');

    // TLS 1.3: the server's refusal arrives after the client's handshake completes,
    // so the client may see either an error or an abrupt close.
    const ws = new WebSocket(server.url, { ca: certs.ca.cert });
    cleanups.push(() => ws.terminate());
    ws.on('error', () => undefined);
    await once(ws, 'close', T, { rejectOnError: false });
    expect(server.connections).toBe(1);
    await waitFor(() => server.tlsErrors.length > 0, T, { label: 'server tlsClientError' });
  });
});

describe('connect proxy', () => {
  async function connectVia(
    proxyPort: number,
    target: string,
    headers: Record<string, string> = {},
  ): Promise<{ res: IncomingMessage; socket: Socket }> {
    const req = httpRequest({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: target, headers, agent: false });
    req.end();
    const [res, socket] = await once<[IncomingMessage, Socket]>(req, 'connect', T);
    cleanups.push(() => {
      socket.destroy();
    });
    return { res, socket };
  }

  it('tunnels a ws client to the ws server and records the target', async () => {
    const wsServer = track(await startWsServer({ echo: true }));
    const proxy = track(await startConnectProxy());
    const target = `127.0.0.1:${wsServer.port}`;
    const { res, socket } = await connectVia(proxy.port, target);
    expect(res.statusCode).toBe(200);

    const ws = client(wsServer.url, { createConnection: () => socket });
    await once(ws, 'open', T);
    ws.send('through the tunnel');
    expect((await nextMessage(ws)).data.toString()).toBe('through the tunnel');
    expect(proxy.requests).toEqual([target]);
    expect(proxy.log[0]?.outcome).toBe('tunnel');
  });

  it('tunnels wss with TLS over the CONNECT socket', async () => {
    const certs = makeCerts();
    const wsServer = track(await startWsServer({ tls: certs.valid, echo: true }));
    const proxy = track(await startConnectProxy());
    const { socket } = await connectVia(proxy.port, `127.0.0.1:${wsServer.port}`);
    const ws = client(wsServer.url, {
      createConnection: () => tlsConnect({ socket, ca: certs.ca.cert, servername: 'localhost' }),
    });
    await once(ws, 'open', T);
    ws.send('tls in tunnel');
    expect((await nextMessage(ws)).data.toString()).toBe('tls in tunnel');
  });

  it('answers 407 without (or with wrong) credentials and 200 with them', async () => {
    const wsServer = track(await startWsServer());
    const proxy = track(await startConnectProxy({ auth: { user: 'u', pass: 'p' } }));
    const target = `127.0.0.1:${wsServer.port}`;

    const none = await connectVia(proxy.port, target);
    expect(none.res.statusCode).toBe(407);
    expect(none.res.headers['proxy-authenticate']).toMatch(/^Basic/);

    const wrong = await connectVia(proxy.port, target, {
      'Proxy-Authorization': `Basic ${Buffer.from('u:x').toString('base64')}`,
    });
    expect(wrong.res.statusCode).toBe(407);

    const good = await connectVia(proxy.port, target, {
      'Proxy-Authorization': `Basic ${Buffer.from('u:p').toString('base64')}`,
    });
    expect(good.res.statusCode).toBe(200);
    expect(proxy.log.map((r) => r.outcome)).toEqual(['auth-required', 'auth-required', 'tunnel']);
  });

  it('refuses non-loopback targets by default', async () => {
    const proxy = track(await startConnectProxy());
    const { res } = await connectVia(proxy.port, 'example.com:443');
    expect(res.statusCode).toBe(403);
  });
});

describe('wait', () => {
  it('once resolves with the arguments and rejects on error or timeout', async () => {
    const emitter = new EventEmitter();
    const got = once<[number, string]>(emitter, 'thing', T);
    emitter.emit('thing', 1, 'a');
    expect(await got).toEqual([1, 'a']);
    expect(emitter.listenerCount('thing')).toBe(0);

    const failed = once(emitter, 'thing', T);
    emitter.emit('error', new Error('boom'));
    await expect(failed).rejects.toThrow('boom');
    await expect(once(emitter, 'never', 20)).rejects.toBeInstanceOf(TimeoutError);
    expect(emitter.listenerCount('error')).toBe(0);
  });

  it('withTimeout and waitFor are bounded', async () => {
    await expect(withTimeout(new Promise<void>(() => undefined), 20, 'nothing')).rejects.toThrow(
      /Timed out after 20 ms waiting for nothing/,
    );
    expect(await withTimeout(Promise.resolve(5), 1000)).toBe(5);

    let flag = false;
    setImmediate(() => {
      flag = true;
    });
    await waitFor(() => flag, T);
    await expect(waitFor(() => false, 30, { label: 'never' })).rejects.toBeInstanceOf(TimeoutError);
  });
});
