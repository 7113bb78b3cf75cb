/**
 * Following redirects (issue 10 §2): what each origin receives. Raw servers on
 * two loopback addresses (127.0.0.1 and 127.0.0.2: two origins) record the
 * exact request heads; TLS ones use the test PKI (helpers/certs). Each hop
 * is a fresh connection built by connect()'s own code (lib/redirect.ts), so
 * a redirect to another origin carries none of the user's headers, the
 * Location is held to connect()'s URL rules, TLS keeps the session's TLS
 * options, and Host and SNI are the new target's.
 */
import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { connect, connectOnce, type ConnectOptions, type RedirectInfo, type WebSocketClient, type WebSocketError } from './lib';
import { makeCerts } from './helpers/certs';
import { startRawServer, type RawConnection, type RawRequest, type RawServer, type RawServerOptions } from './helpers/raw-server';
import { codeOf } from './helpers/thrown';
import { endAfterEach, once, withTimeout } from './helpers/wait';

const T = 10_000;
const certs = makeCerts();
const { clients, servers } = endAfterEach<WebSocketClient, RawServer>();

function track(c: WebSocketClient): WebSocketClient {
  clients.push(c);
  return c;
}

type Answer = (conn: RawConnection) => void;

/** A raw server whose answer to each request `answer` decides; `requests` in arrival order. */
async function server(answer: Answer, options: RawServerOptions = {}): Promise<RawServer & { requests: RawRequest[] }> {
  const requests: RawRequest[] = [];
  const s = await startRawServer(
    (conn) => {
      requests.push(conn.request);
      answer(conn);
    },
    { defaultTimeoutMs: T, ...options },
  );
  servers.push(s);
  return Object.assign(s, { requests });
}

const accept: Answer = (conn) => conn.accept();

function redirect(status: number, location: string): Answer {
  return (conn) => {
    conn.write(`HTTP/1.1 ${status} Moved\r\nLocation: ${location}\r\nContent-Length: 0\r\n\r\n`);
    conn.end();
  };
}

/** Redirects while the path is in `map`, accepts otherwise. */
function routes(map: Record<string, [number, string] | string>): Answer {
  return (conn) => {
    const to = map[conn.request.path];
    if (to === undefined) return conn.accept();
    const [status, location] = typeof to === 'string' ? [302, to] : to;
    redirect(status, location)(conn);
  };
}

const tls = { key: certs.valid.key, cert: certs.valid.cert };

// What a request carries beyond the handshake's own headers.
const HANDSHAKE = new Set(['host', 'upgrade', 'connection', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'pragma', 'cache-control']);
function userHeaders(r: RawRequest): Record<string, string> {
  return Object.fromEntries(Object.entries(r.headers).filter(([name]) => !HANDSHAKE.has(name)));
}

const SECRETS = { Cookie: 'session=s3cret', 'Proxy-Authorization': 'Basic cHJveHk6cHc=', 'X-Api-Key': 'k-123' };
const BASIC = `Basic ${Buffer.from('user:pw').toString('base64')}`;

async function opened(c: WebSocketClient): Promise<void> {
  await withTimeout(c.opened, T, 'open');
}

function redirects(c: WebSocketClient): RedirectInfo[] {
  const seen: RedirectInfo[] = [];
  c.on('redirect', (info) => seen.push(info));
  return seen;
}

describe('credentials and headers across origins', () => {
  it('a redirect to another origin carries none of the user headers, URL credentials included; the first origin gets them all', async () => {
    const b = await server(accept, { host: '127.0.0.2' });
    const a = await server(redirect(302, `ws://127.0.0.2:${b.port}/next?q=1`));
    const c = track(connectOnce(`ws://user:pw@127.0.0.1:${a.port}/start`, { followRedirects: true, headers: SECRETS }));
    const seen = redirects(c);
    await opened(c);
    expect(userHeaders(a.requests[0]!)).toEqual({ authorization: BASIC, cookie: SECRETS.Cookie, 'proxy-authorization': SECRETS['Proxy-Authorization'], 'x-api-key': SECRETS['X-Api-Key'] });
    expect(b.requests).toHaveLength(1);
    expect(b.requests[0]!.path).toBe('/next?q=1');
    expect(userHeaders(b.requests[0]!)).toEqual({});
    // The port is in Host when it is not the default.
    expect(b.requests[0]!.headers.host).toBe(`127.0.0.2:${b.port}`);
    expect(seen).toEqual([{ from: `ws://127.0.0.1:${a.port}/start`, to: `ws://127.0.0.2:${b.port}/next?q=1`, status: 302, crossOrigin: true }]);
    // The session's URL stays the one given to connect() (without the redirect).
    expect(c.url).toBe(`ws://user:pw@127.0.0.1:${a.port}/start`);
  });

  it("the headers function's output goes to the first origin only; the function runs once per fresh attempt, not per hop", async () => {
    const b = await server(accept, { host: '127.0.0.2' });
    const a = await server(redirect(307, `ws://127.0.0.2:${b.port}/`));
    let calls = 0;
    const c = track(
      connectOnce(`ws://127.0.0.1:${a.port}/`, {
        followRedirects: true,
        headers: async () => {
          calls++;
          return { Authorization: 'Bearer t0ken', Cookie: 'c=1' };
        },
      }),
    );
    await opened(c);
    expect(userHeaders(a.requests[0]!)).toEqual({ authorization: 'Bearer t0ken', cookie: 'c=1' });
    expect(userHeaders(b.requests[0]!)).toEqual({});
    expect(calls).toBe(1);
  });

  it('a redirect within the origin keeps every header (relative Location resolved against the URL redirected from)', async () => {
    const a = await server(routes({ '/dir/start': [301, 'next?x=2'] }));
    const c = track(connectOnce(`ws://user:pw@127.0.0.1:${a.port}/dir/start`, { followRedirects: true, headers: SECRETS }));
    const seen = redirects(c);
    await opened(c);
    expect(a.requests.map((r) => r.path)).toEqual(['/dir/start', '/dir/next?x=2']);
    expect(userHeaders(a.requests[1]!)).toEqual(userHeaders(a.requests[0]!));
    expect(userHeaders(a.requests[1]!).authorization).toBe(BASIC);
    expect(a.requests[1]!.headers.host).toBe(`127.0.0.1:${a.port}`);
    expect(seen[0]?.crossOrigin).toBe(false);
  });

  it('once a hop went to another origin, a later hop back to the first origin does not get the headers back', async () => {
    let aPort = 0; // the handlers run at request time, after both servers listen
    const b = await server((conn) => redirect(302, `ws://127.0.0.1:${aPort}/back`)(conn), { host: '127.0.0.2' });
    const a = await server(routes({ '/': `ws://127.0.0.2:${b.port}/b` }));
    aPort = a.port;
    const c = track(connectOnce(`ws://127.0.0.1:${a.port}/`, { followRedirects: true, headers: SECRETS }));
    const seen = redirects(c);
    await opened(c);
    expect(a.requests.map((r) => r.path)).toEqual(['/', '/back']);
    expect(userHeaders(a.requests[0]!)).toEqual({ cookie: SECRETS.Cookie, 'proxy-authorization': SECRETS['Proxy-Authorization'], 'x-api-key': SECRETS['X-Api-Key'] });
    expect(userHeaders(b.requests[0]!)).toEqual({});
    expect(userHeaders(a.requests[1]!)).toEqual({});
    expect(seen.map((r) => r.crossOrigin)).toEqual([true, true]);
  });

  it('ws: to wss: on the same host is another origin too (the scheme differs)', async () => {
    const b = await server(accept, { tls });
    const a = await server(redirect(308, `wss://127.0.0.1:${b.port}/`));
    const c = track(connectOnce(`ws://127.0.0.1:${a.port}/`, { followRedirects: true, headers: SECRETS, ca: certs.ca.cert }));
    await opened(c);
    expect(userHeaders(b.requests[0]!)).toEqual({});
  });
});

describe('TLS across a redirect', () => {
  it('ws: to wss: keeps ca and the client certificate; no IP literal is sent as SNI', async () => {
    const b = await server(accept, { host: '127.0.0.2', tls: { ...tls, ca: certs.ca.cert, requestCert: true, rejectUnauthorized: true } });
    const sockets: TLSSocket[] = [];
    b.server.on('secureConnection', (s: TLSSocket) => sockets.push(s));
    const a = await server(redirect(302, `wss://127.0.0.2:${b.port}/secure`));
    const c = track(
      connectOnce(`ws://127.0.0.1:${a.port}/`, { followRedirects: true, ca: certs.ca.cert, cert: certs.client.cert, key: certs.client.key }),
    );
    await opened(c);
    expect(b.requests[0]!.path).toBe('/secure');
    expect(sockets[0]?.getPeerCertificate().subject.CN).toBe('test-client');
    expect(sockets[0]?.servername).toBe(false);
  });

  it('keeps the allow* relaxations for the redirected TLS connection', async () => {
    const b = await server(accept, { tls: { key: certs.selfSigned.key, cert: certs.selfSigned.cert } });
    const a = await server(redirect(302, `wss://127.0.0.1:${b.port}/`));
    const c = track(connectOnce(`ws://127.0.0.1:${a.port}/`, { followRedirects: true, allowSelfSigned: true }));
    await opened(c);
    const strict = track(connectOnce(`ws://127.0.0.1:${a.port}/`, { followRedirects: true }));
    await expect(withTimeout(strict.opened, T, 'open')).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', url: `wss://127.0.0.1:${b.port}/` });
  });

  it('never sends an IP literal as SNI (RFC 6066 section 3); the certificate is still checked against the address', async () => {
    const sni: Array<string | false | null> = [];
    const b = await server(accept, { tls });
    b.server.on('secureConnection', (s: TLSSocket) => sni.push(s.servername));
    await opened(track(connectOnce(`wss://127.0.0.1:${b.port}/`, { ca: certs.ca.cert })));
    expect(sni).toEqual([false]);
    const wrong = await server(accept, { tls: { key: certs.wrongHost.key, cert: certs.wrongHost.cert } });
    const c = track(connectOnce(`wss://127.0.0.1:${wrong.port}/`, { ca: certs.ca.cert }));
    await expect(withTimeout(c.opened, T, 'open')).rejects.toMatchObject({ code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  it('a redirect to a DNS name sends it as SNI and in Host', async () => {
    const sni: Array<string | false | null> = [];
    const b = await server(accept, { tls });
    b.server.on('secureConnection', (s: TLSSocket) => sni.push(s.servername));
    const a = await server(redirect(302, `wss://localhost:${b.port}/`));
    await opened(track(connectOnce(`ws://127.0.0.1:${a.port}/`, { followRedirects: true, ca: certs.ca.cert })));
    expect(sni).toEqual(['localhost']);
    expect(b.requests[0]!.headers.host).toBe(`localhost:${b.port}`);
  });

  it('follows http: and https: Locations as ws: and wss: (as ws and the WHATWG WebSocket do)', async () => {
    const b = await server(accept, { tls });
    const plain = await server(accept, { host: '127.0.0.2' });
    const a = await server(routes({ '/tls': `https://127.0.0.1:${b.port}/over-tls`, '/plain': `http://127.0.0.2:${plain.port}/in-clear` }));
    const toTls = track(connectOnce(`ws://127.0.0.1:${a.port}/tls`, { followRedirects: true, ca: certs.ca.cert }));
    const hops = redirects(toTls);
    await opened(toTls);
    expect(b.requests[0]!.path).toBe('/over-tls');
    expect(hops.map((h) => h.to)).toEqual([`wss://127.0.0.1:${b.port}/over-tls`]);
    expect(toTls.url).toBe(`ws://127.0.0.1:${a.port}/tls`);
    await opened(track(connectOnce(`ws://127.0.0.1:${a.port}/plain`, { followRedirects: true })));
    expect(plain.requests[0]!.path).toBe('/in-clear');
  });

  it('refuses a wss: to ws: downgrade with ERR_REDIRECT_DOWNGRADE and connects nowhere', async () => {
    const b = await server(accept, { host: '127.0.0.2' });
    const a = await server(redirect(302, `ws://127.0.0.2:${b.port}/`), { tls });
    const c = track(connectOnce(`${a.url}/`, { followRedirects: true, ca: certs.ca.cert, headers: SECRETS }));
    const err = await withTimeout(c.opened.then(() => undefined, (e: WebSocketError) => e), T, 'failure');
    expect(err).toMatchObject({ code: 'ERR_REDIRECT_DOWNGRADE', status: 302, url: `${a.url}/` });
    expect(b.connections).toBe(0);
  });
});

describe('which redirects are followed, and how many', () => {
  it.each([301, 302, 303, 307, 308])('follows %i', async (status) => {
    const a = await server(routes({ '/': [status, '/moved'] }));
    const c = track(connectOnce(`${a.url}/`, { followRedirects: true }));
    await opened(c);
    expect(a.requests.map((r) => r.path)).toEqual(['/', '/moved']);
  });

  it('does not follow 300, nor a 3xx without Location: ERR_UNEXPECTED_RESPONSE', async () => {
    const a = await server(routes({ '/': [300, '/moved'] }));
    const c = track(connectOnce(`${a.url}/`, { followRedirects: true }));
    await expect(withTimeout(c.opened, T, 'open')).rejects.toMatchObject({ code: 'ERR_UNEXPECTED_RESPONSE', status: 300 });
    const bare = await server((conn) => {
      conn.write('HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n');
      conn.end();
    });
    const d = track(connectOnce(`${bare.url}/`, { followRedirects: true }));
    await expect(withTimeout(d.opened, T, 'open')).rejects.toMatchObject({ code: 'ERR_UNEXPECTED_RESPONSE', status: 302 });
    expect(a.connections + bare.connections).toBe(2);
  });

  it.each([
    [undefined, 10],
    [3, 3],
    [0, 0],
  ])('maxRedirects %s: follows %i redirects, then fails with ERR_TOO_MANY_REDIRECTS and gives up', async (maxRedirects, hops) => {
    const a = await server((conn) => redirect(302, `/hop/${Number(/\d+$/.exec(conn.request.path)?.[0] ?? 0) + 1}`)(conn));
    // Reconnection on: a refused redirect ends like a 3xx that is not
    // followed, which the reconnect policy does not retry.
    const options: ConnectOptions = { followRedirects: true, reconnect: { backoffMs: [10] } };
    if (maxRedirects !== undefined) options.maxRedirects = maxRedirects;
    const c = track(connect(`${a.url}/hop/0`, options));
    const seen = redirects(c);
    const giveup = once<[{ cause: string; status?: number }]>(c, 'giveup', T, { rejectOnError: false });
    const closed = once<[number]>(c, 'close', T, { rejectOnError: false });
    const err = await withTimeout(c.opened.then(() => undefined, (e: WebSocketError) => e), T, 'failure');
    expect(err).toMatchObject({ code: 'ERR_TOO_MANY_REDIRECTS', status: 302, url: `${a.url}/hop/${hops}` });
    expect(await giveup).toEqual([expect.objectContaining({ cause: 'http', status: 302 })]);
    await closed;
    expect(a.connections).toBe(hops + 1);
    expect(seen).toHaveLength(hops);
  });

  it('validates maxRedirects', () => {
    expect(codeOf(() => connect('ws://127.0.0.1:1/', { maxRedirects: -1 }))).toEqual({ type: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
    expect(codeOf(() => connect('ws://127.0.0.1:1/', { maxRedirects: 1.5 }))).toEqual({ type: 'TypeError', code: 'ERR_INVALID_OPTION' });
    expect(codeOf(() => connect('ws://127.0.0.1:1/', { maxRedirects: 1001 }))).toEqual({ type: 'RangeError', code: 'ERR_OUT_OF_RANGE' });
  });

  it("errors of a hop name the hop's URL", async () => {
    const gone = await server(accept, { host: '127.0.0.2' });
    const port = gone.port;
    servers.splice(servers.indexOf(gone), 1);
    await gone.close();
    const a = await server(redirect(302, `ws://127.0.0.2:${port}/x`));
    const c = track(connectOnce(`${a.url}/`, { followRedirects: true }));
    await expect(withTimeout(c.opened, T, 'open')).rejects.toMatchObject({ code: 'ECONNREFUSED', url: `ws://127.0.0.2:${port}/x` });
  });
});

describe('reconnecting after a redirect', () => {
  it('a reconnect starts over from the URL given to connect(), not from where the redirect led', async () => {
    let bConns = 0;
    const b = await server(
      (conn) => {
        conn.accept();
        // The first connection is dropped by the server; the second stays.
        if (bConns++ === 0) setImmediate(() => conn.destroy());
      },
      { host: '127.0.0.2' },
    );
    const a = await server(redirect(302, `ws://127.0.0.2:${b.port}/there`));
    const c = track(connect(`${a.url}/here`, { followRedirects: true, reconnect: { backoffMs: [20], jitterPercent: 0 }, heartbeat: false }));
    const opens: boolean[] = [];
    const second = new Promise<void>((resolve) => {
      c.on('open', (info) => {
        opens.push(info.reconnected);
        if (opens.length === 2) resolve();
      });
    });
    await withTimeout(second, T, 'second open');
    expect(opens).toEqual([false, true]);
    expect(a.requests.map((r) => r.path)).toEqual(['/here', '/here']);
    expect(b.requests.map((r) => r.path)).toEqual(['/there', '/there']);
    expect(c.url).toBe(`${a.url}/here`);
  });

  it('a rotation (maxConnectionAgeMs) is redirected like any fresh attempt', async () => {
    const b = await server(accept, { host: '127.0.0.2' });
    const a = await server(redirect(302, `ws://127.0.0.2:${b.port}/`));
    const c = track(connect(`${a.url}/`, { followRedirects: true, maxConnectionAgeMs: 300, maxConnectionAgeJitterPercent: 0, rotationOverlapMs: 10, heartbeat: false }));
    const switched = new Promise<void>((resolve) => c.on('rotate', ({ phase }) => phase === 'switch' && resolve()));
    await withTimeout(switched, T, 'rotation switch');
    expect(a.connections).toBeGreaterThanOrEqual(2);
    expect(b.connections).toBeGreaterThanOrEqual(2);
  });
});
