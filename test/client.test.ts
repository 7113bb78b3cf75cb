import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { connectOnce, WebSocketClient, type WebSocketError } from './lib';
import { once, withTimeout } from './helpers/wait';

const T = 10_000;
const servers: WebSocketServer[] = [];
const clients: WebSocketClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          for (const ws of s.clients) ws.terminate();
          s.close(() => resolve());
        }),
    ),
  );
});

async function server(
  options: ConstructorParameters<typeof WebSocketServer>[0] = {},
  host = '127.0.0.1',
): Promise<{ wss: WebSocketServer; port: number; url: string }> {
  const wss = new WebSocketServer({ port: 0, host, ...options });
  servers.push(wss);
  await once(wss, 'listening', T);
  const port = (wss.address() as AddressInfo).port;
  const h = host.includes(':') ? `[${host}]` : host;
  return { wss, port, url: `ws://${h}:${port}` };
}

function track(c: WebSocketClient): WebSocketClient {
  clients.push(c);
  return c;
}

function nextConnection(wss: WebSocketServer): Promise<[ServerSocket, IncomingMessage]> {
  return once<[ServerSocket, IncomingMessage]>(wss, 'connection', T);
}

function echo(wss: WebSocketServer): void {
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
}

function nextMessage(c: WebSocketClient): Promise<[string | Buffer, boolean]> {
  return once<[string | Buffer, boolean]>(c, 'message', T);
}

describe('echo over ws:', () => {
  it('exchanges text and binary messages from 0 B to 16 MiB in order', async () => {
    const { wss, url } = await server({ maxPayload: 64 * 1024 * 1024 });
    echo(wss);
    const c = track(connectOnce(url));
    await withTimeout(c.opened, T, 'open');
    const sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];
    const expected: Array<[string | Buffer, boolean]> = [];
    for (const n of sizes) {
      const bin = Buffer.alloc(n);
      for (let i = 0; i < n; i += 4096) bin[i] = (i / 4096) & 0xff;
      expected.push([bin, true], ['é'.repeat(Math.floor(n / 2)), false]);
    }
    const received: Array<[string | Buffer, boolean]> = [];
    const done = new Promise<void>((resolve) => {
      c.on('message', (data, isBinary) => {
        received.push([data, isBinary]);
        if (received.length === expected.length) resolve();
      });
    });
    for (const [data] of expected) c.send(data);
    await withTimeout(done, 60_000, 'all echoes');
    for (let i = 0; i < expected.length; i++) {
      const [data, isBinary] = expected[i]!;
      const [got, gotBinary] = received[i]!;
      expect(gotBinary).toBe(isBinary);
      if (isBinary) expect(Buffer.compare(got as Buffer, data as Buffer)).toBe(0);
      else expect(got).toBe(data);
    }
  }, 90_000);

  it('sends a string as binary and bytes as text when asked', async () => {
    const { wss, url } = await server();
    const conn = nextConnection(wss);
    const c = track(connectOnce(url));
    const [ws] = await conn;
    const got: Array<[string, boolean]> = [];
    const two = new Promise<void>((resolve) =>
      ws.on('message', (d, b) => {
        got.push([d.toString(), b]);
        if (got.length === 2) resolve();
      }),
    );
    c.send('as-binary', { binary: true });
    c.send(Buffer.from('as-text'), { binary: false });
    await withTimeout(two, T, 'two messages');
    expect(got).toEqual([
      ['as-binary', true],
      ['as-text', false],
    ]);
  });

  it('queues messages sent while connecting and sends them once open', async () => {
    const { wss, url } = await server();
    echo(wss);
    const c = track(connectOnce(url));
    expect(c.readyState).toBe(WebSocketClient.CONNECTING);
    c.send('early');
    const [data] = await nextMessage(c);
    expect(data).toBe('early');
  });

  it('accepts ArrayBuffer and typed-array views', async () => {
    const { wss, url } = await server();
    echo(wss);
    const c = track(connectOnce(url));
    const u16 = new Uint16Array([1, 2, 3]);
    c.send(u16);
    const [a] = await nextMessage(c);
    expect(Buffer.compare(a as Buffer, Buffer.from(u16.buffer))).toBe(0);
    c.send(new Uint8Array([9, 8]).buffer);
    const [b] = await nextMessage(c);
    expect([...(b as Buffer)]).toEqual([9, 8]);
  });

  it('delivers text as Buffer with textAsBuffer', async () => {
    const { wss, url } = await server();
    echo(wss);
    const c = track(connectOnce(url, { textAsBuffer: true }));
    c.send('hi');
    const [data, isBinary] = await nextMessage(c);
    expect(isBinary).toBe(false);
    expect(Buffer.isBuffer(data)).toBe(true);
    expect(data.toString()).toBe('hi');
  });

  it('yields messages to for await until close', async () => {
    const { wss, url } = await server();
    const conn = nextConnection(wss);
    const c = track(connectOnce(url));
    const [ws] = await conn;
    ws.send('a');
    ws.send(Buffer.from([1]));
    ws.close(1000);
    const seen: Array<[string, boolean]> = [];
    for await (const m of c) seen.push([m.isBinary ? (m.data as Buffer).toString('hex') : (m.data as string), m.isBinary]);
    expect(seen).toEqual([
      ['a', false],
      ['01', true],
    ]);
  });
});

describe('handshake', () => {
  it('sends path, query, headers and origin, and exposes the negotiated subprotocol', async () => {
    const { wss, url } = await server({ handleProtocols: (set) => (set.has('b') ? 'b' : false) });
    wss.on('headers', (headers) => headers.push('X-Server: handshake-header'));
    const conn = nextConnection(wss);
    const c = track(
      connectOnce(`${url}/some/path?x=1&y=%20`, {
        headers: { 'X-Token': 'abc', 'X-Num': '42' },
        protocols: ['a', 'b'],
        origin: 'https://example.test',
      }),
    );
    const [, req] = await conn;
    await withTimeout(c.opened, T, 'open');
    expect(req.url).toBe('/some/path?x=1&y=%20');
    expect(req.headers['x-token']).toBe('abc');
    expect(req.headers['x-num']).toBe('42');
    expect(req.headers.origin).toBe('https://example.test');
    expect(req.headers['sec-websocket-protocol']).toBe('a, b');
    expect(c.protocol).toBe('b');
    expect(c.handshakeHeaders['sec-websocket-protocol']).toBe('b');
    expect(c.handshakeHeaders['x-server']).toBe('handshake-header');
    expect(c.readyState).toBe(WebSocketClient.OPEN);
    expect(c.url).toBe(`${url}/some/path?x=1&y=%20`);
  });

  it('offers permessage-deflate by default and reports the negotiated extension', async () => {
    const { wss, url } = await server({ perMessageDeflate: { threshold: 0 } });
    echo(wss);
    const conn = nextConnection(wss);
    const c = track(connectOnce(url));
    const [, req] = await conn;
    await withTimeout(c.opened, T, 'open');
    expect(req.headers['sec-websocket-extensions']).toContain('permessage-deflate');
    expect(c.extensions).toContain('permessage-deflate');
    const big = 'compressible '.repeat(100_000);
    c.send(big);
    const [data] = await nextMessage(c);
    expect(data).toBe(big);
  });

  it('does not offer permessage-deflate when perMessageDeflate is false', async () => {
    const { wss, url } = await server({ perMessageDeflate: true });
    const conn = nextConnection(wss);
    const c = track(connectOnce(url, { perMessageDeflate: false }));
    const [, req] = await conn;
    await withTimeout(c.opened, T, 'open');
    expect(req.headers['sec-websocket-extensions']).toBeUndefined();
    expect(c.extensions).toBe('');
  });

  it('reports a refused upgrade with its status and headers', async () => {
    const http = createServer((_req, res) => res.end());
    http.on('upgrade', (_req, socket) => {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 7\r\nX-Why: busy\r\nContent-Length: 0\r\n\r\n');
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening', T);
    try {
      const port = (http.address() as AddressInfo).port;
      const c = track(connectOnce(`ws://127.0.0.1:${port}/`));
      const errP = once<[WebSocketError]>(c, 'error', T);
      const closeP = once<[number, string]>(c, 'close', T, { rejectOnError: false });
      const [err] = await errP;
      expect(err.code).toBe('ERR_UNEXPECTED_RESPONSE');
      expect(err.status).toBe(503);
      expect(err.headers?.['retry-after']).toBe('7');
      expect(err.headers?.['x-why']).toBe('busy');
      expect(err.url).toBe(`ws://127.0.0.1:${port}/`);
      await expect(c.opened).rejects.toMatchObject({ code: 'ERR_UNEXPECTED_RESPONSE', status: 503 });
      const [code] = await closeP;
      expect(code).toBe(1006);
    } finally {
      http.close();
    }
  });

  it('does not follow redirects unless asked', async () => {
    const target = await server();
    const http = createServer((_req, res) => res.end());
    http.on('upgrade', (_req, socket) => {
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${target.url}/moved\r\nContent-Length: 0\r\n\r\n`);
    });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening', T);
    try {
      const port = (http.address() as AddressInfo).port;
      const c = track(connectOnce(`ws://127.0.0.1:${port}/`));
      await expect(withTimeout(c.opened, T, 'open')).rejects.toMatchObject({ code: 'ERR_UNEXPECTED_RESPONSE', status: 302 });

      const conn = nextConnection(target.wss);
      const f = track(connectOnce(`ws://127.0.0.1:${port}/`, { followRedirects: true }));
      const [, req] = await conn;
      await withTimeout(f.opened, T, 'open after redirect');
      expect(req.url).toBe('/moved');
    } finally {
      http.close();
    }
  });

  it('fails with ECONNREFUSED when nothing listens', async () => {
    const { wss, port } = await server();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    const c = track(connectOnce(`ws://127.0.0.1:${port}/`));
    await expect(withTimeout(c.opened, T, 'open')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(c.readyState).toBe(WebSocketClient.CLOSED);
  });

  it('connects over IPv6 and by hostname', async () => {
    const v6 = await server({}, '::1');
    echo(v6.wss);
    const a = track(connectOnce(v6.url));
    a.send('six');
    expect((await nextMessage(a))[0]).toBe('six');

    const v4 = await server();
    echo(v4.wss);
    const b = track(connectOnce(`ws://localhost:${v4.port}/`));
    b.send('name');
    expect((await nextMessage(b))[0]).toBe('name');
  });

  it('reports an unknown host as ENOTFOUND', async () => {
    const c = track(connectOnce('ws://no-such-host.invalid/'));
    await expect(withTimeout(c.opened, T, 'open')).rejects.toMatchObject({ code: 'ENOTFOUND' });
  });
});

describe('closing', () => {
  it('runs the closing handshake with the given code and reason', async () => {
    const { wss, url } = await server();
    const conn = nextConnection(wss);
    const c = track(connectOnce(url));
    const [ws] = await conn;
    await withTimeout(c.opened, T, 'open');
    const serverClose = once<[number, Buffer]>(ws, 'close', T);
    const clientClose = once<[number, string]>(c, 'close', T);
    await withTimeout(c.close(4001, 'done here'), T, 'close()');
    const [code, reason] = await serverClose;
    expect(code).toBe(4001);
    expect(reason.toString()).toBe('done here');
    expect(await clientClose).toEqual([4001, 'done here']);
    expect(c.readyState).toBe(WebSocketClient.CLOSED);
  });

  it('sends queued messages before the Close frame', async () => {
    const { wss, url } = await server();
    const conn = nextConnection(wss);
    const c = track(connectOnce(url));
    const [ws] = await conn;
    await withTimeout(c.opened, T, 'open');
    const got: string[] = [];
    ws.on('message', (d) => got.push(d.toString()));
    for (let i = 0; i < 100; i++) c.send(`m${i}`);
    await withTimeout(c.close(), T, 'close()');
    expect(got).toHaveLength(100);
    expect(got[99]).toBe('m99');
  });

  it('reports the peer close code and reason exactly', async () => {
    const { wss, url } = await server();
    const conn = nextConnection(wss);
    const c = track(connectOnce(url));
    const [ws] = await conn;
    await withTimeout(c.opened, T, 'open');
    ws.close(4321, 'server says bye ✓');
    expect(await once(c, 'close', T)).toEqual([4321, 'server says bye ✓']);
  });

  it('reports 1005 for an empty close frame and 1006 for a dropped connection', async () => {
    const { wss, url } = await server();
    let conn = nextConnection(wss);
    const a = track(connectOnce(url));
    let [ws] = await conn;
    await withTimeout(a.opened, T, 'open');
    ws.close();
    expect((await once(a, 'close', T))[0]).toBe(1005);

    conn = nextConnection(wss);
    const b = track(connectOnce(url));
    [ws] = await conn;
    await withTimeout(b.opened, T, 'open');
    ws.terminate();
    expect((await once(b, 'close', T))[0]).toBe(1006);
  });

  it('refuses invalid close codes and long reasons with a RangeError', async () => {
    const { url } = await server();
    const c = track(connectOnce(url));
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 1000.5]) {
      expect(() => c.close(code)).toThrow(RangeError);
    }
    expect(() => c.close(1000, 'x'.repeat(124))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_CLOSE_REASON' }));
    expect(() => c.close(1000, 'é'.repeat(62))).toThrow(RangeError);
    await withTimeout(c.close(1000, 'x'.repeat(123)), T, 'close()');
  });

  it('drops TCP when the server never answers the Close frame', async () => {
    const { wss, url } = await server();
    const conn = nextConnection(wss);
    const c = track(connectOnce(url, { closeTimeout: 300 }));
    const [ws] = await conn;
    await withTimeout(c.opened, T, 'open');
    // Stop reading: the server will not echo the Close frame.
    (ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const started = Date.now();
    await withTimeout(c.close(1000), T, 'close()');
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('aborts a connection that is still connecting', async () => {
    const { wss, url } = await server();
    const conn = nextConnection(wss);
    const c = track(connectOnce(url));
    const closed = once<[number, string]>(c, 'close', T);
    void c.close();
    expect((await closed)[0]).toBe(1006);
    await expect(c.opened).rejects.toMatchObject({ code: 'ERR_CLOSED_BEFORE_OPEN' });
    expect(c.readyState).toBe(WebSocketClient.CLOSED);
    void conn.catch(() => undefined);
  });

  it('throws a typed error on send after close', async () => {
    const { url } = await server();
    const c = track(connectOnce(url));
    await withTimeout(c.opened, T, 'open');
    void c.close();
    expect(() => c.send('late')).toThrow(expect.objectContaining({ code: 'ERR_NOT_OPEN' }));
  });
});

describe('flow', () => {
  it('keeps bufferedAmount accurate and emits drain below the low-water mark', async () => {
    const { wss, url } = await server({ maxPayload: 64 << 20 });
    const conn = nextConnection(wss);
    const c = track(connectOnce(url, { highWaterMark: 1 << 20 }));
    const [ws] = await conn;
    await withTimeout(c.opened, T, 'open');
    let received = 0;
    ws.on('message', (d: Buffer) => {
      received += d.length;
    });
    const chunk = Buffer.alloc(256 * 1024, 1);
    let accepted = true;
    let sent = 0;
    for (let i = 0; i < 16 && accepted; i++) {
      accepted = c.send(chunk);
      sent += chunk.length;
    }
    expect(accepted).toBe(false);
    expect(c.bufferedAmount).toBeGreaterThan(1 << 20);
    expect(c.bufferedAmount).toBeLessThanOrEqual(sent);
    await once(c, 'drain', T);
    expect(c.bufferedAmount).toBeLessThanOrEqual(256 * 1024);
    await withTimeout(c.close(), T, 'close');
    expect(c.bufferedAmount).toBe(0);
    expect(received).toBe(sent);
  });

  it('answers pings and reports pongs', async () => {
    const { wss, url } = await server();
    const conn = nextConnection(wss);
    const c = track(connectOnce(url));
    const [ws] = await conn;
    await withTimeout(c.opened, T, 'open');
    const pong = once<[Buffer]>(ws, 'pong', T);
    ws.ping(Buffer.from('srv'));
    expect((await pong)[0].toString()).toBe('srv');
    const clientPong = once<[Buffer]>(c, 'pong', T);
    c.ping('cli');
    expect((await clientPong)[0].toString()).toBe('cli');
    expect(() => c.ping(Buffer.alloc(126))).toThrow(TypeError);
  });
});
