// ws:// and wss:// through an HTTP CONNECT proxy (helpers/connect-proxy),
// proxy authentication, the proxy environment variables and proxy URL
// validation.
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectOnce, WebSocketClient, type ConnectOptions, type WebSocketError } from './lib';
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

function wssServer(): Promise<WsServer> {
  return wsServer({ tls: { key: certs.valid.key, cert: certs.valid.cert } });
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
