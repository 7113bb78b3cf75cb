/**
 * The WebSocket class is a drop-in for ws's client. A real ws client program
 * (test/fixtures/ws-program.cjs: the examples of ws's README and the rest of
 * the client API a program uses) runs as written with ws and, ported by
 * changing its one require('ws') to require('node-libwebsockets'), with this
 * package, against the same server: the two transcripts must be the same.
 * Then the ws options and calls that cannot be honoured, which must throw a
 * typed error rather than be ignored.
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { WebSocket } from './lib';
import { ChildRun, exitOutcome, FIXTURES, ROOT } from './helpers/child';
import { freePort } from './helpers/fault-server';
import { once, withTimeout } from './helpers/wait';

const T = 20_000;
let server: Server;
let wss: WebSocketServer;
let base: string;
const dir = mkdtempSync(join(tmpdir(), 'nlws-port-'));

beforeAll(async () => {
  server = createServer((_req, res) => {
    res.writeHead(404, { 'x-why': 'nothing here' });
    res.end('not found');
  });
  wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has('chat.v1') ? 'chat.v1' : false),
  });
  wss.on('headers', (headers) => headers.push('X-Server: test'));
  server.on('upgrade', (req, socket, head) => {
    const path = req.url ?? '';
    if (!['/echo', '/hello', '/close-me', '/heartbeat', '/ping-me'].includes(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\nX-Why: nothing here\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      wss.emit('connection', ws, req);
      if (path === '/hello') ws.send(`protocol=${ws.protocol} token=${String(req.headers['x-token'])}`);
      // Two PINGs, the second once the first was answered.
      if (path === '/heartbeat') {
        ws.ping('one');
        ws.once('pong', () => ws.ping('two'));
      }
      // A PING; each PONG is reported back with a count (one expected).
      if (path === '/ping-me') {
        let pongs = 0;
        ws.ping('are you there');
        ws.on('pong', (data) => ws.send(`pong ${++pongs}: ${data.toString()}`));
      }
      ws.on('message', (data, isBinary) => {
        if (path === '/close-me') ws.close(4001, 'go away');
        else ws.send(data, { binary: isBinary });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // `require('node-libwebsockets')` from the ported copy finds this package.
  symlinkSync(ROOT, join(dir, 'node-libwebsockets'));
});

afterAll(async () => {
  for (const c of wss.clients) c.terminate();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

async function transcript(program: string, refusedPort: number): Promise<string> {
  const child = new ChildRun(process.execPath, [program, base, String(refusedPort)], {
    cwd: ROOT,
    env: { ...process.env, NODE_PATH: dir },
  });
  const r = await child.waitExit(T);
  expect(exitOutcome(r), r.stderr).toEqual({ code: 0, signal: null, crashText: null });
  expect(r.stderr).toBe('');
  return r.stdout;
}

describe('a ws client program', () => {
  it('prints the same transcript with ws and ported by changing its import', async () => {
    const source = readFileSync(join(FIXTURES, 'ws-program.cjs'), 'utf8');
    expect(source.split("require('ws')")).toHaveLength(2);
    const ported = join(dir, 'ws-program-ported.cjs');
    writeFileSync(ported, source.replace("require('ws')", "require('node-libwebsockets')"));
    const refused = await freePort();
    const withWs = await transcript(join(FIXTURES, 'ws-program.cjs'), refused);
    expect(withWs).toContain('done');
    expect(withWs.split('\n').filter((l) => l.startsWith('-- ')).length).toBeGreaterThanOrEqual(12);
    const withUs = await transcript(ported, refused);
    expect(withUs).toBe(withWs);
  }, 60_000);
});

describe('what cannot be honoured throws a typed error', () => {
  it.each([
    ['agent', { agent: {} }],
    ['createConnection', { createConnection: () => undefined }],
    ['lookup', { lookup: () => undefined }],
    ['family', { family: 6 }],
    ['localAddress', { localAddress: '127.0.0.1' }],
    ['generateMask', { generateMask: () => undefined }],
    ['finishRequest', { finishRequest: () => undefined }],
    ['pfx', { pfx: Buffer.alloc(1) }],
    ['ciphers', { ciphers: 'HIGH' }],
    ['protocolVersion', { protocolVersion: 8 }],
    ['perMessageDeflate.threshold', { perMessageDeflate: { threshold: 1024 } }],
    ['textAsBuffer', { textAsBuffer: false }],
  ])('option %s', (name, options) => {
    expect(() => new WebSocket('ws://127.0.0.1:1/', options as never)).toThrow(
      expect.objectContaining({ code: 'ERR_UNSUPPORTED_OPTION', message: expect.stringContaining(name) }),
    );
  });

  it('unknown options, as connect() does', () => {
    expect(() => new WebSocket('ws://127.0.0.1:1/', { nonsense: 1 } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });

  it('ws+unix: URLs', () => {
    expect(() => new WebSocket('ws+unix:///tmp/sock')).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_OPTION' }));
  });

  it('send() with fin: false or mask: false', async () => {
    const ws = new WebSocket(`${base}/echo`);
    try {
      await withTimeout(once(ws, 'open', T), T, 'open');
      expect(() => ws.send('x', { fin: false })).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_OPTION' }));
      expect(() => ws.send('x', { mask: false })).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED_OPTION' }));
    } finally {
      ws.terminate();
    }
  });

  it('the options ws ignores for a client are ignored here too; accepted no-op limits', async () => {
    const ws = new WebSocket(`${base}/echo`, {
      host: 'elsewhere.invalid',
      path: '/elsewhere',
      timeout: 5,
      allowSynchronousEvents: false,
      maxFragments: 1,
      maxBufferedChunks: 1,
      protocolVersion: 13,
    });
    try {
      await withTimeout(once(ws, 'open', T), T, 'open');
      expect(ws.url).toBe(`${base.replace('http', 'ws')}/echo`);
    } finally {
      ws.terminate();
    }
  });
});

describe("connect() given ws's (url, protocols) shape", () => {
  it('says how to write it instead of "unknown option: 0"', async () => {
    const { connect } = await import('./lib');
    for (const protocols of [['chat'], 'chat']) {
      expect(() => connect('ws://127.0.0.1:1/', protocols as never)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', message: expect.stringContaining('{ protocols: [...] }') }),
      );
    }
  });
});

describe('close() without a code', () => {
  it('sends a Close frame without a body, as ws does, and reports the echo as 1005', async () => {
    const { startRawServer } = await import('./helpers/raw-server');
    const { close: closeFrame } = await import('./helpers/frames');
    const raw = await startRawServer();
    try {
      const ws = new WebSocket(raw.url, { perMessageDeflate: false });
      const conn = await raw.nextConnection(T);
      conn.accept();
      await withTimeout(once(ws, 'open', T), T, 'open');
      const closed = once<[number, Buffer]>(ws, 'close', T);
      ws.close();
      const frame = await conn.nextFrame(T);
      expect({ opcode: frame.opcode, fin: frame.fin, length: frame.payload.length }).toEqual({ opcode: 8, fin: true, length: 0 });
      conn.write(closeFrame());
      conn.end();
      const [code, reason] = await closed;
      expect([code, reason.length]).toEqual([1005, 0]);
    } finally {
      await raw.close();
    }
  });
});

describe('persistence is one option away', () => {
  it('reconnect: true keeps the same WebSocket open across a server-side drop', async () => {
    const ws = new WebSocket(`${base}/echo`, { reconnect: { backoffMs: [10] } });
    try {
      const opened = once(ws, 'open', T);
      const first = once<[import('ws').WebSocket]>(wss, 'connection', T);
      await withTimeout(opened, T, 'open');
      const [serverSide] = await first;
      const reopened = once(ws, 'open', T);
      serverSide.terminate();
      const [d] = await once<[{ cause: string }]>(ws, 'disconnect', T);
      expect(d.cause).toBe('network');
      await withTimeout(reopened, T, 'open again');
      const echoed = once<[Buffer, boolean]>(ws, 'message', T);
      ws.send('still here');
      expect((await echoed)[0].toString()).toBe('still here');
      expect(ws.session.stats().reconnects).toBe(1);
    } finally {
      ws.terminate();
    }
  });
});
