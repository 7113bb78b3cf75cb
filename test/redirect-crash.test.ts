/**
 * Redirects that crashed the process (issue 10 §1): lws followed them itself,
 * replacing the connection during the redirect and freeing it without a
 * callback when the new target failed (an unresolvable host, a Location it
 * could not parse), while the attempt still pointed at it: SIGSEGV at the
 * handshake timeout or at close()/terminate(), or heap corruption at exit.
 * Each case runs the client in a child process (fixtures/redirect-client.cjs)
 * against a raw server writing the exact bytes, so a crash fails the test
 * instead of killing the test runner; the child must end its session with
 * a close event and then exit by itself with code 0.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { exitOutcome, killAll, runFixture, type ChildRun } from './helpers/child';
import { makeCerts } from './helpers/certs';
import { startRawServer, type RawServer } from './helpers/raw-server';

const T = 15_000;
const certs = makeCerts();
const servers: RawServer[] = [];

afterEach(async () => {
  await killAll();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function redirectBytes(status: number, location: string): string {
  return `HTTP/1.1 ${status} Moved\r\nLocation: ${location}\r\nContent-Length: 0\r\n\r\n`;
}

/** Answers every upgrade request with a redirect to `location(port)`, then FIN. */
async function redirector(location: (port: number) => string, options: { status?: number; tls?: boolean } = {}): Promise<RawServer> {
  let port = 0;
  const s = await startRawServer(
    (conn) => {
      conn.write(redirectBytes(options.status ?? 302, location(port)));
      conn.end();
    },
    options.tls ? { tls: { key: certs.valid.key, cert: certs.valid.cert }, defaultTimeoutMs: T } : { defaultTimeoutMs: T },
  );
  port = s.port;
  servers.push(s);
  return s;
}

/** Reads upgrade requests and never answers. */
async function silent(host: string): Promise<RawServer> {
  const s = await startRawServer(null, { host, defaultTimeoutMs: T });
  servers.push(s);
  return s;
}

function client(url: string, options: Record<string, unknown>): ChildRun {
  return runFixture('redirect-client.cjs', [url, JSON.stringify({ followRedirects: true, ...options })]);
}

interface ErrorLine {
  code: string;
  status?: number;
  url: string;
  message: string;
  cause?: string;
}

function errorsOf(child: ChildRun): ErrorLine[] {
  return child.outputLines.filter((l) => l.startsWith('error ')).map((l) => JSON.parse(l.slice(6)) as ErrorLine);
}

/** Waits for the session's close, then for the child to exit by itself: code 0, no crash text. */
async function expectCleanEnd(child: ChildRun): Promise<number> {
  const line = await child.waitLine(/^close /, T);
  const result = await child.waitExit(T);
  expect(exitOutcome(result), `stderr:\n${result.stderr}\nstdout:\n${result.stdout}`).toEqual({ code: 0, signal: null, crashText: null });
  return Number(line.slice(6));
}

describe('a redirect the client cannot follow does not crash it', () => {
  it('302 to an unresolvable host: the hop fails with ENOTFOUND before handshakeTimeout, and the session closes', async () => {
    const s = await redirector(() => 'ws://nonexistent.invalid:9/');
    const child = client(`${s.url}/`, { handshakeTimeout: 2000, reconnect: false });
    expect(await expectCleanEnd(child)).toBe(1006);
    expect(errorsOf(child).map((e) => [e.code, e.url])).toEqual([['ENOTFOUND', 'ws://nonexistent.invalid:9/']]);
    expect(child.outputLines).toContain(
      `redirect ${JSON.stringify({ from: `${s.url}/`, to: 'ws://nonexistent.invalid:9/', status: 302, crossOrigin: true })}`,
    );
  });

  it.each([
    ['a javascript: URL', () => 'javascript:alert(1)', /scheme must be ws: or wss:/],
    ['a file: URL', () => 'file:///etc/passwd', /scheme must be ws: or wss:/],
    ['user info', (port: number) => `ws://user:pw@127.0.0.1:${port}/x`, /must not carry user info/],
    ['a 300-character host', () => `ws://${'a'.repeat(300)}.example/`, /host is 308 characters/],
    ['a URL that does not parse', () => 'ws://[::1/', /not a valid URL/],
  ])('Location with %s is refused with ERR_INVALID_REDIRECT and nothing is connected', async (_name, location, why) => {
    const s = await redirector(location);
    const child = client(`${s.url}/`, { handshakeTimeout: 2000, reconnect: false });
    expect(await expectCleanEnd(child)).toBe(1006);
    const errors = errorsOf(child);
    expect(errors.map((e) => [e.code, e.status, e.url])).toEqual([['ERR_INVALID_REDIRECT', 302, `${s.url}/`]]);
    expect(errors[0]?.message).toMatch(why);
    // The URL parser's error, where there is one, is the cause.
    if (location(0).startsWith('ws://[')) expect(errors[0]?.cause).toMatch(/Invalid URL/);
    expect(child.outputLines.filter((l) => l.startsWith('redirect '))).toEqual([]);
    expect(s.connections).toBe(1);
  });

  it.each(['close', 'terminate'])('%s() after a redirect to an unresolvable host', async (how) => {
    // Reconnection on: the session lives on (the redirect again, ENOTFOUND
    // again, ...) until told to close, wherever it is in that cycle.
    const s = await redirector(() => 'ws://nonexistent.invalid:9/');
    const child = client(`${s.url}/`, { handshakeTimeout: 60_000 });
    const first = await s.nextConnection(T);
    await first.waitClosed(T); // the client has read the redirect and dropped that connection
    child.send(how);
    expect(await expectCleanEnd(child)).toBe(1006);
  });

  it.each(['close', 'terminate'])('%s() while the redirected hop is in its opening handshake', async (how) => {
    const target = await silent('127.0.0.2');
    const s = await redirector(() => `${target.url}/next`);
    const child = client(`${s.url}/`, { handshakeTimeout: 60_000 });
    const conn = await target.nextConnection(T);
    expect(conn.request.path).toBe('/next');
    child.send(how);
    expect(await expectCleanEnd(child)).toBe(1006);
    await conn.waitClosed(T);
  });

  it('wss: 301 to an unresolvable wss host fails the hop, and close() ends the session and the process', async () => {
    const s = await redirector(() => 'wss://nonexistent.invalid/', { status: 301, tls: true });
    expect(s.url.startsWith('wss://')).toBe(true);
    const once = client(`${s.url}/`, { ca: certs.ca.cert, handshakeTimeout: 2000, reconnect: false });
    expect(await expectCleanEnd(once)).toBe(1006);
    expect(errorsOf(once).map((e) => e.code)).toEqual(['ENOTFOUND']);

    const kept = client(`${s.url}/`, { ca: certs.ca.cert, handshakeTimeout: 2000 });
    await kept.waitLine(/^error .*ENOTFOUND/, T);
    kept.send('close');
    expect(await expectCleanEnd(kept)).toBe(1006);
  });
});
