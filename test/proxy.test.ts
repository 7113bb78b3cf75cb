// ws:// and wss:// through an HTTP CONNECT proxy (helpers/connect-proxy),
// proxy authentication, the proxy environment variables and proxy URL
// validation.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, connectOnce, WebSocketClient, type ConnectOptions, type WebSocketError } from './lib';
import { makeCerts } from './helpers/certs';
import { startConnectProxy, type ConnectProxy, type ConnectProxyOptions } from './helpers/connect-proxy';
import { startWsServer, type WsServer, type WsServerOptions } from './helpers/ws-server';
import { expectFailedAttempt } from './helpers/failed-attempt';
import { once, withTimeout } from './helpers/wait';

const T = 10_000;
const certs = makeCerts();
const closables: Array<{ close(): Promise<void> }> = [];
const clients: WebSocketClient[] = [];

const PROXY_ENV = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY'] as const;
let savedEnv: Record<string, string | undefined> = {};

beforeEach(() => {
  // Start from a known environment (the runner's own proxy settings must not
  // leak in), and give it back afterwards.
  savedEnv = {};
  for (const name of PROXY_ENV) {
    savedEnv[name] = process.env[name];
    delete process.env[name];
  }
});

afterEach(async () => {
  for (const name of PROXY_ENV) {
    const v = savedEnv[name];
    if (v === undefined) delete process.env[name];
    else process.env[name] = v;
  }
  for (const c of clients.splice(0)) c.terminate();
  await Promise.all(closables.splice(0).map((s) => s.close()));
});

async function wsServer(options: WsServerOptions = {}): Promise<WsServer> {
  const s = await startWsServer({ echo: true, ...options });
  closables.push(s);
  return s;
}

function wssServer(options: WsServerOptions = {}): Promise<WsServer> {
  return wsServer({ tls: { key: certs.valid.key, cert: certs.valid.cert }, ...options });
}

async function proxyServer(options: ConnectProxyOptions = {}): Promise<ConnectProxy> {
  const p = await startConnectProxy(options);
  closables.push(p);
  return p;
}

function track(c: WebSocketClient): WebSocketClient {
  clients.push(c);
  return c;
}

async function expectEcho(c: WebSocketClient, text: string): Promise<void> {
  await withTimeout(c.opened, T, 'open');
  c.send(text);
  expect(await once<[string | Buffer, boolean]>(c, 'message', T)).toEqual([text, false]);
}

/** Expects the attempt to fail (see expectFailedAttempt); returns the error. */
async function expectFailure(url: string, options: ConnectOptions): Promise<WebSocketError> {
  const err = await expectFailedAttempt(track(connectOnce(url, options)), T);
  expect(err.url).toBe(url);
  return err;
}

/**
 * lws reads $http_proxy when a vhost is created (one vhost per option set,
 * reused afterwards). A unique passphrase forces a fresh vhost, so the env
 * tests cannot pass merely because an earlier test created the vhost
 * before the variable was set.
 */
function freshVhost(): { passphrase: string } {
  return { passphrase: `vhost-${randomUUID()}` };
}

describe('CONNECT proxy', () => {
  it('tunnels ws:// through the proxy given by the proxy option', async () => {
    const s = await wsServer();
    const proxy = await proxyServer();
    const conn = s.nextConnection(T);
    const c = track(connectOnce(`${s.url}/via?x=1`, { proxy: proxy.url }));
    await expectEcho(c, 'through the tunnel');
    expect(proxy.requests).toEqual([`127.0.0.1:${s.port}`]);
    expect(proxy.log[0]?.outcome).toBe('tunnel');
    expect(proxy.log[0]?.headers['proxy-authorization']).toBeUndefined();
    const { request } = await conn;
    expect(request.url).toBe('/via?x=1');
    expect(request.headers.host).toBe(`127.0.0.1:${s.port}`);
    await withTimeout(c.close(1000, 'done'), T, 'close()');
  });

  it('accepts the proxy as a URL object', async () => {
    const s = await wsServer();
    const proxy = await proxyServer();
    const c = track(connectOnce(s.url, { proxy: new URL(proxy.url) }));
    await expectEcho(c, 'url object');
    expect(proxy.requests).toEqual([`127.0.0.1:${s.port}`]);
  });

  it('tunnels wss:// through the proxy and verifies the server end to end', async () => {
    const s = await wssServer();
    const proxy = await proxyServer();
    const c = track(connectOnce(`${s.url}/`, { proxy: proxy.url, ca: certs.ca.cert }));
    await expectEcho(c, 'tls in the tunnel');
    expect(proxy.requests).toEqual([`127.0.0.1:${s.port}`]);
    expect(proxy.log[0]?.outcome).toBe('tunnel');

    // TLS runs through the tunnel to the server: the server's certificate is
    // still checked (the default trust store does not know the test CA).
    const err = await expectFailure(`${s.url}/`, { proxy: proxy.url });
    expect(err.code).toBe('UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
    expect(proxy.requests).toEqual([`127.0.0.1:${s.port}`, `127.0.0.1:${s.port}`]);
  });

  it('asks for an IPv6 literal in brackets (CONNECT [::1]:port), over ws and wss', async () => {
    const s = await wsServer({ host: '::1' });
    const proxy = await proxyServer();
    const conn = s.nextConnection(T);
    const c = track(connectOnce(`ws://[::1]:${s.port}/v6`, { proxy: proxy.url }));
    await expectEcho(c, 'v6 through the tunnel');
    expect(proxy.requests).toEqual([`[::1]:${s.port}`]);
    expect((await conn).request.headers.host).toBe(`[::1]:${s.port}`);
    const tls = await wssServer({ host: '::1' });
    const secure = track(connectOnce(`wss://[::1]:${tls.port}/`, { proxy: proxy.url, ca: certs.ca.cert }));
    await expectEcho(secure, 'v6 tls through the tunnel');
    expect(proxy.requests).toEqual([`[::1]:${s.port}`, `[::1]:${tls.port}`]);
  });

  it('leaves a host name for the proxy to resolve', async () => {
    const s = await wssServer();
    const proxy = await proxyServer();
    const c = track(connectOnce(`wss://localhost:${s.port}/`, { proxy: proxy.url, ca: certs.ca.cert }));
    await expectEcho(c, 'by name');
    expect(proxy.requests).toEqual([`localhost:${s.port}`]);
  });

  it('reports a proxy refusing the tunnel as ERR_PROXY', async () => {
    const s = await wsServer();
    const proxy = await proxyServer({ allowTarget: () => false });
    const err = await expectFailure(`${s.url}/`, { proxy: proxy.url });
    expect(err.code).toBe('ERR_PROXY');
    expect(err.status).toBe(403);
    expect(proxy.log.map((r) => r.outcome)).toEqual(['forbidden']);
    expect(s.connections).toBe(0);
  });
});

describe('proxy authentication', () => {
  const auth = { user: 'user', pass: 'p@ss word' };
  const withCredentials = (proxy: ConnectProxy): string => {
    const u = new URL(proxy.url);
    u.username = encodeURIComponent(auth.user);
    u.password = encodeURIComponent(auth.pass);
    return u.href;
  };

  it('sends the credentials of the proxy URL as Basic Proxy-Authorization', async () => {
    const s = await wsServer();
    const proxy = await proxyServer({ auth });
    const seen = once(proxy.server, 'connect', T);
    track(connectOnce(`${s.url}/`, { proxy: withCredentials(proxy) }));
    await seen;
    expect(proxy.log).toHaveLength(1);
    const header = String(proxy.log[0]?.headers['proxy-authorization'] ?? '');
    // The scheme is case-insensitive (RFC 7235); the credentials are not.
    const match = /^basic ([A-Za-z0-9+/=]+)$/i.exec(header);
    expect(match, `Proxy-Authorization: ${header}`).not.toBeNull();
    expect(Buffer.from(match?.[1] ?? '', 'base64').toString()).toBe(`${auth.user}:${auth.pass}`);
  });

  it('opens through a proxy requiring Basic auth with the credentials in the proxy URL', async () => {
    const s = await wsServer();
    const proxy = await proxyServer({ auth });
    const c = track(connectOnce(`${s.url}/`, { proxy: withCredentials(proxy) }));
    await expectEcho(c, 'authenticated');
    expect(proxy.log.map((r) => r.outcome)).toEqual(['tunnel']);
  });

  it('opens wss:// through a proxy requiring Basic auth', async () => {
    const s = await wssServer();
    const proxy = await proxyServer({ auth });
    const c = track(connectOnce(`${s.url}/`, { proxy: withCredentials(proxy), ca: certs.ca.cert }));
    await expectEcho(c, 'authenticated tls');
    expect(proxy.log.map((r) => r.outcome)).toEqual(['tunnel']);
  });

  it('fails with ERR_PROXY when the proxy wants credentials and none are given', async () => {
    const s = await wsServer();
    const proxy = await proxyServer({ auth });
    const err = await expectFailure(`${s.url}/`, { proxy: proxy.url });
    expect(err.code).toBe('ERR_PROXY');
    expect(err.message).toContain('407');
    expect(err.status).toBe(407);
    expect(proxy.log.map((r) => r.outcome)).toEqual(['auth-required']);
    expect(s.connections).toBe(0);
  });

  it('fails with ERR_PROXY for wrong credentials', async () => {
    const s = await wsServer();
    const proxy = await proxyServer({ auth });
    const err = await expectFailure(`${s.url}/`, { proxy: `http://user:wrong@127.0.0.1:${proxy.port}` });
    expect(err.code).toBe('ERR_PROXY');
    expect(proxy.log.map((r) => r.outcome)).toEqual(['auth-required']);
  });
});

describe('a proxy that refuses the credentials (issue 15)', () => {
  // Each attempt failed with ERR_PROXY and the session reconnected (cause
  // network) forever. A 407, or a 401/403 from the proxy, gives up like a 403
  // from the server; only a proxy function can bring new credentials.
  const auth = { user: 'user', pass: 'secret' };
  const fast = { reconnect: { backoffMs: [20], jitterPercent: 0 } };

  interface Outcome {
    errors: WebSocketError[];
    giveup: { cause: string; reason: string; status?: number };
    attempts: number;
  }

  async function untilGiveUp(url: string, options: ConnectOptions): Promise<Outcome> {
    const c = track(connect(url, { ...fast, ...options }));
    const errors: WebSocketError[] = [];
    let attempts = 0;
    c.on('error', (e) => errors.push(e));
    c.on('reconnecting', () => attempts++);
    const gaveUp = once<[{ cause: string; reason: string; status?: number }]>(c, 'giveup', T, { rejectOnError: false });
    const closed = once(c, 'close', T, { rejectOnError: false });
    const [giveup] = await gaveUp;
    await closed;
    return { errors, giveup, attempts };
  }

  it('407 for missing credentials: one attempt, ERR_PROXY 407, then giveup with cause proxy', async () => {
    const s = await wsServer();
    const proxy = await proxyServer({ auth });
    const r = await untilGiveUp(`${s.url}/`, { proxy: proxy.url });
    expect(r.errors.map((e) => [e.code, e.status])).toEqual([['ERR_PROXY', 407]]);
    expect(r.giveup).toMatchObject({ cause: 'proxy', status: 407 });
    expect(r.attempts).toBe(0);
    expect(proxy.log.map((x) => x.outcome)).toEqual(['auth-required']);
    expect(s.connections).toBe(0);
  });

  it('407 for wrong credentials: the same', async () => {
    const s = await wsServer();
    const proxy = await proxyServer({ auth });
    const r = await untilGiveUp(`${s.url}/`, { proxy: `http://user:wrong@127.0.0.1:${proxy.port}` });
    expect(r.giveup).toMatchObject({ cause: 'proxy', status: 407 });
    expect(proxy.log.map((x) => x.outcome)).toEqual(['auth-required']);
  });

  it.each(['401 Unauthorized', '403 Forbidden'])('%s from the proxy: the same', async (status) => {
    const s = await wsServer();
    const proxy = await proxyServer({ refuseWith: status });
    const r = await untilGiveUp(`${s.url}/`, { proxy: proxy.url });
    const code = Number(status.slice(0, 3));
    expect(r.errors.map((e) => [e.code, e.status])).toEqual([['ERR_PROXY', code]]);
    expect(r.giveup).toMatchObject({ cause: 'proxy', status: code });
    expect(proxy.log).toHaveLength(1);
  });

  it('a proxy that fails otherwise (502) is retried', async () => {
    const s = await wsServer();
    const proxy = await proxyServer({ refuseWith: '502 Bad Gateway' });
    const c = track(connect(`${s.url}/`, { ...fast, proxy: proxy.url }));
    const [r] = await once<[{ cause: string; attempt: number }]>(c, 'reconnecting', T, { rejectOnError: false });
    expect(r.cause).toBe('proxy');
    expect(c.lastError).toMatchObject({ code: 'ERR_PROXY', status: 502 });
  });

  it('a proxy function is asked again after a 407, and its new credentials open the connection', async () => {
    const s = await wsServer();
    const proxy = await proxyServer({ auth });
    const given = [`http://user:expired@127.0.0.1:${proxy.port}`, `http://user:secret@127.0.0.1:${proxy.port}`];
    let calls = 0;
    const c = track(connect(`${s.url}/`, { ...fast, proxy: () => given[Math.min(calls++, 1)] as string }));
    await expectEcho(c, 'fresh credentials');
    expect(calls).toBe(2);
    expect(proxy.log.map((x) => x.outcome)).toEqual(['auth-required', 'tunnel']);
  });

  it('a proxy function whose credentials are refused twice: giveup after the second attempt', async () => {
    const s = await wsServer();
    const proxy = await proxyServer({ auth });
    let calls = 0;
    const r = await untilGiveUp(`${s.url}/`, { proxy: async () => (calls++, `http://user:wrong@127.0.0.1:${proxy.port}`) });
    expect(calls).toBe(2);
    expect(r.giveup).toMatchObject({ cause: 'proxy', status: 407 });
    expect(proxy.log.map((x) => x.outcome)).toEqual(['auth-required', 'auth-required']);
  });
});

describe('a proxy function', () => {
  it('an invalid URL from it fails that attempt (cause config, ERR_CONFIG saying why), not connect()', async () => {
    const s = await wsServer();
    const c = track(connect(`${s.url}/`, { reconnect: { backoffMs: [20] }, proxy: () => 'socks5://127.0.0.1:1080' }));
    const err = once<[WebSocketError]>(c, 'error', T);
    const [r] = await once<[{ cause: string }]>(c, 'reconnecting', T, { rejectOnError: false });
    expect(r.cause).toBe('config');
    const [e] = await err;
    expect(e.code).toBe('ERR_CONFIG');
    expect(e.message).toContain('proxy must be an http:// URL');
  });

  it('undefined from it means no proxy', async () => {
    const s = await wsServer();
    const c = track(connectOnce(`${s.url}/`, { proxy: async () => undefined }));
    await expectEcho(c, 'direct');
  });
});

describe('a proxy that is down (issue 15)', () => {
  it('the error names the proxy, not the target', async () => {
    const s = await wsServer();
    const gone = await proxyServer();
    const proxyPort = gone.port;
    await gone.close();
    const err = await expectFailure(`${s.url}/`, { proxy: `http://127.0.0.1:${proxyPort}` });
    expect(err.code).toBe('ECONNREFUSED');
    expect(err.message).toMatch(new RegExp(`^could not connect to the proxy 127\\.0\\.0\\.1:${proxyPort} `));
  });
});

describe('proxy environment variables', () => {
  it('ignores http_proxy, HTTP_PROXY, https_proxy and HTTPS_PROXY by default', async () => {
    const s = await wsServer();
    const secure = await wssServer();
    const proxy = await proxyServer();
    for (const name of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY']) process.env[name] = proxy.url;

    const conn = s.nextConnection(T);
    const c = track(connectOnce(`${s.url}/`, freshVhost()));
    await expectEcho(c, 'direct');
    await conn;
    const d = track(connectOnce(`${secure.url}/`, { ca: certs.ca.cert, ...freshVhost() }));
    await expectEcho(d, 'direct tls');
    expect(proxy.requests).toEqual([]);
  });

  it('uses http_proxy with proxyFromEnv: true', async () => {
    const s = await wsServer();
    const proxy = await proxyServer();
    process.env.http_proxy = proxy.url;
    const c = track(connectOnce(`${s.url}/`, { proxyFromEnv: true, ...freshVhost() }));
    await expectEcho(c, 'from env');
    expect(proxy.requests).toEqual([`127.0.0.1:${s.port}`]);
  });

  it('skips the proxy for hosts listed in no_proxy', async () => {
    const s = await wsServer();
    const proxy = await proxyServer();
    process.env.http_proxy = proxy.url;

    process.env.no_proxy = 'example.com,.internal.test';
    const a = track(connectOnce(`${s.url}/`, { proxyFromEnv: true, ...freshVhost() }));
    await expectEcho(a, 'not excluded');
    expect(proxy.requests).toEqual([`127.0.0.1:${s.port}`]);

    process.env.no_proxy = 'example.com, 127.0.0.1';
    const b = track(connectOnce(`${s.url}/`, { proxyFromEnv: true, ...freshVhost() }));
    await expectEcho(b, 'excluded');
    expect(proxy.requests).toHaveLength(1);
  });
});

describe('proxy URL validation', () => {
  it('throws a TypeError with code ERR_INVALID_PROXY synchronously', () => {
    for (const proxy of ['socks5://x:1', 'not a url', 'https://127.0.0.1:8080', 'http://']) {
      let thrown: unknown;
      try {
        track(connectOnce('ws://127.0.0.1:1/', { proxy }));
      } catch (e) {
        thrown = e;
      }
      expect(thrown, `proxy ${proxy}`).toBeInstanceOf(TypeError);
      expect(thrown).toMatchObject({ code: 'ERR_INVALID_PROXY' });
    }
  });

  it('throws ERR_INVALID_PROXY for an invalid proxy URL taken from the environment', () => {
    process.env.http_proxy = 'socks5://127.0.0.1:1080';
    expect(() => track(connectOnce('ws://127.0.0.1:1/', { proxyFromEnv: true }))).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_PROXY' }),
    );
  });
});
