/**
 * Failures are never silent: a failed attempt nobody listens to becomes a
 * process warning, errors are worded and described as Node's system errors,
 * an AbortSignal ends a session, `maxPayload: 0` means no limit (as in ws),
 * and NODE_EXTRA_CA_CERTS is trusted as Node's https trusts it. Processes
 * that must show what a user sees (stderr, exit) run as children.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { lookup } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, connectOnce, WebSocketClient, type WebSocketError } from './lib';
import { makeCerts } from './helpers/certs';
import { ChildRun, exitOutcome, killAll, ROOT } from './helpers/child';
import { freePort } from './helpers/fault-server';
import { once, withTimeout } from './helpers/wait';
import { startWsServer, type WsServer } from './helpers/ws-server';

const T = 10_000;
const clients: WebSocketClient[] = [];
const servers: WsServer[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await killAll();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function track(c: WebSocketClient): WebSocketClient {
  clients.push(c);
  return c;
}

/** What Node's net module reports for a connection to this port. */
function nodeConnectError(port: number): Promise<NodeJS.ErrnoException & { address?: string; port?: number }> {
  return new Promise((resolve) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.on('error', resolve);
  });
}

/** `node -e <script>` with the package's CommonJS build as `lib`. */
function nodeScript(script: string, env: NodeJS.ProcessEnv = process.env): ChildRun {
  const prelude = `const lib = require(${JSON.stringify(join(ROOT, 'dist', 'cjs', 'index.js'))});\n`;
  return new ChildRun(process.execPath, ['-e', prelude + script], { cwd: ROOT, env });
}

describe('errors in Node words', () => {
  it('a refused connection is "connect ECONNREFUSED <address>:<port>" with errno, syscall, address and port, as net reports it', async () => {
    const port = await freePort();
    const c = track(connectOnce(`ws://127.0.0.1:${port}/`));
    const [err] = await once<[WebSocketError]>(c, 'error', T);
    const node = await nodeConnectError(port);
    expect(err.message).toBe(node.message);
    expect(err.message).toBe(`connect ECONNREFUSED 127.0.0.1:${port}`);
    expect({ code: err.code, errno: err.errno, syscall: err.syscall, address: err.address, port: err.port }).toEqual({
      code: node.code,
      errno: node.errno,
      syscall: node.syscall,
      address: node.address,
      port: node.port,
    });
    expect(err.url).toBe(`ws://127.0.0.1:${port}/`);
  });

  it('an unknown host is "getaddrinfo ENOTFOUND <host>" with errno, syscall and hostname, as dns.lookup reports it', async () => {
    const c = track(connectOnce('ws://no-such-host.invalid/'));
    const [err] = await once<[WebSocketError]>(c, 'error', T);
    const node = (await lookup('no-such-host.invalid').then(
      () => undefined,
      (e: unknown) => e,
    )) as NodeJS.ErrnoException & { hostname?: string };
    expect(err.message).toBe(node.message);
    expect({ code: err.code, errno: err.errno, syscall: err.syscall, hostname: err.hostname }).toEqual({
      code: node.code,
      errno: node.errno,
      syscall: node.syscall,
      hostname: node.hostname,
    });
  });

  it('a server that hangs up during the handshake is "socket hang up", ECONNRESET, as http reports it', async () => {
    const { startTcpServer } = await import('./helpers/fault-server');
    const tcp = await startTcpServer('destroy');
    try {
      const c = track(connectOnce(tcp.url));
      const [err] = await once<[WebSocketError]>(c, 'error', T);
      expect(err.code).toBe('ECONNRESET');
      expect(err.message).toBe('socket hang up');
    } finally {
      await tcp.close();
    }
  });
});

describe('a failure nobody listens to', () => {
  it('becomes one process warning per session, naming the error and the URL', async () => {
    const port = await freePort();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const c = track(connect(`ws://127.0.0.1:${port}/`, { reconnect: { backoffMs: [10] } }));
      // Three failed attempts: still one warning.
      for (let i = 0; i < 3; i++) await once(c, 'reconnecting', T, { rejectOnError: false });
      await new Promise<void>((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      const ours = warnings.filter((w) => (w as Error & { code?: string }).code === 'NLWS_UNHANDLED_ERROR');
      expect(ours).toHaveLength(1);
      expect(ours[0]?.name).toBe('WebSocketWarning');
      expect(ours[0]?.message).toBe(`connect ECONNREFUSED 127.0.0.1:${port} (ws://127.0.0.1:${port}/)`);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('is not warned about when an error listener exists', async () => {
    const port = await freePort();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const c = track(connectOnce(`ws://127.0.0.1:${port}/`));
      c.on('error', () => undefined);
      await once(c, 'close', T, { rejectOnError: false });
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => (w as Error & { code?: string }).code === 'NLWS_UNHANDLED_ERROR')).toHaveLength(0);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('reaches stderr within a second in a program that only awaits `opened` (default options: it retries forever)', async () => {
    const port = await freePort();
    const child = nodeScript(`lib.connect('ws://127.0.0.1:${port}/').opened.then(() => console.log('opened'));`);
    const started = Date.now();
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (child.stderr.includes('(ws://127.0.0.1:')) resolve();
        };
        child.proc.stderr?.on('data', check);
        check();
      }),
      T,
      'the warning on stderr',
    );
    // Not a timing assertion on the library: the first attempt is refused at once on loopback.
    expect(Date.now() - started).toBeLessThan(T);
    expect(child.stderr).toContain(`WebSocketWarning: connect ECONNREFUSED 127.0.0.1:${port} (ws://127.0.0.1:${port}/)`);
    expect(child.stderr).toContain("nobody listens for 'error'");
    child.kill('SIGKILL');
  });

  it('with reconnect: false the program still ends, and says why on stderr', async () => {
    const port = await freePort();
    const child = nodeScript(`lib.connect('ws://127.0.0.1:${port}/', { reconnect: false });`);
    const r = await child.waitExit(T);
    expect(exitOutcome(r)).toEqual({ code: 0, signal: null, crashText: null });
    expect(r.stderr).toContain(`connect ECONNREFUSED 127.0.0.1:${port}`);
  });
});

describe('signal', () => {
  it('ends a session that never opened: opened rejects with ERR_ABORTED, the reason as cause', async () => {
    const port = await freePort();
    const ac = new AbortController();
    const c = track(connect(`ws://127.0.0.1:${port}/`, { signal: ac.signal, reconnect: { backoffMs: [10] } }));
    c.on('error', () => undefined);
    await once(c, 'reconnecting', T, { rejectOnError: false });
    const reason = new Error('user gave up');
    ac.abort(reason);
    await expect(withTimeout(c.opened, T, 'opened')).rejects.toMatchObject({ code: 'ERR_ABORTED', cause: reason });
    await withTimeout(c.close(), T, 'closed');
    expect(c.state).toBe('closed');
  });

  it('closes an open session with 1000', async () => {
    const s = await startWsServer();
    servers.push(s);
    const ac = new AbortController();
    const c = track(connect(s.url, { signal: ac.signal }));
    const conn = await s.nextConnection(T);
    await withTimeout(c.opened, T, 'opened');
    const closed = once<[number, string]>(c, 'close', T);
    ac.abort();
    expect((await conn.waitClose(T)).code).toBe(1000);
    expect((await closed)[0]).toBe(1000);
  });

  it('already aborted: the session ends at once', async () => {
    const port = await freePort();
    const c = track(connect(`ws://127.0.0.1:${port}/`, { signal: AbortSignal.abort() }));
    await expect(withTimeout(c.opened, T, 'opened')).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('must be an AbortSignal', () => {
    expect(() => connect('ws://127.0.0.1:1/', { signal: {} as AbortSignal })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });
});

describe('maxPayload: 0', () => {
  it('means no limit, as in ws', async () => {
    const s = await startWsServer();
    servers.push(s);
    const c = track(connectOnce(s.url, { maxPayload: 0 }));
    const conn = await s.nextConnection(T);
    await withTimeout(c.opened, T, 'opened');
    const got = once<[Buffer, boolean]>(c, 'message', T);
    conn.ws.send(Buffer.alloc(200 * 1024, 7));
    const [data, isBinary] = await got;
    expect(isBinary).toBe(true);
    expect(data.length).toBe(200 * 1024);
    conn.ws.send('tiny');
    expect((await once<[string]>(c, 'message', T))[0]).toBe('tiny');
  });
});

describe('NODE_EXTRA_CA_CERTS', () => {
  it('is trusted as https trusts it (a child process: Node reads it at startup)', async () => {
    const certs = makeCerts();
    const s = await startWsServer({ tls: { key: certs.valid.key, cert: certs.valid.cert } });
    servers.push(s);
    const dir = mkdtempSync(join(tmpdir(), 'nlws-extra-ca-'));
    dirs.push(dir);
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, certs.ca.cert);
    const script = `
      const https = require('node:https');
      const viaHttps = new Promise((resolve) => {
        https.get('https://127.0.0.1:${s.port}/', (res) => { res.resume(); resolve('https ok'); })
          .on('error', (e) => resolve('https ' + e.code));
      });
      const c = lib.connect('wss://127.0.0.1:${s.port}/', { reconnect: false });
      const viaUs = c.opened.then(() => 'wss ok', (e) => 'wss ' + e.code);
      Promise.all([viaHttps, viaUs]).then((r) => { console.log(r.join(', ')); return c.close(); });
    `;
    const withExtra = nodeScript(script, { ...process.env, NODE_EXTRA_CA_CERTS: caFile });
    await withExtra.waitLine('https ok, wss ok', T);
    const without = { ...process.env };
    delete without.NODE_EXTRA_CA_CERTS;
    const plain = nodeScript(script, without);
    // Both refuse the server (OpenSSL names the missing issuer differently in each).
    const refused = await plain.waitLine(/^https [A-Z_]+, wss [A-Z_]+$/, T);
    expect(refused).not.toMatch(/ok/);
    expect(exitOutcome(await withExtra.waitExit(T)).code).toBe(0);
    expect(exitOutcome(await plain.waitExit(T)).code).toBe(0);
  });
});
