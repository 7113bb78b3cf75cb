/**
 * The command-line client (bin/node-libwebsockets.js), run as a real child
 * process against ws servers of this test on loopback: stdin lines become
 * messages, received messages go to stdout, events and stats go to stderr,
 * and the exit code says how the session ended.
 */
import { createPrivateKey } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeCerts } from './helpers/certs';
import { ChildRun, exitOutcome, killAll, ROOT } from './helpers/child';
import { TimeoutError } from './helpers/wait';
import { startRawServer, type RawServer } from './helpers/raw-server';
import { startWsServer, type WsServer, type WsServerOptions } from './helpers/ws-server';

const CLI = join(ROOT, 'bin', 'node-libwebsockets.js');
const T = 10_000;

const servers: Array<WsServer | RawServer> = [];
const tmpDirs: string[] = [];

afterEach(async () => {
  await killAll();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function server(options: WsServerOptions = {}): Promise<WsServer> {
  const s = await startWsServer({ echo: true, ...options });
  servers.push(s);
  return s;
}

function cli(args: readonly string[], options: ConstructorParameters<typeof ChildRun>[2] = {}): ChildRun {
  return new ChildRun(process.execPath, [CLI, ...args], { cwd: ROOT, ...options });
}

/** Complete stderr lines so far. */
function stderrLines(child: ChildRun): string[] {
  return child.stderr.split('\n').slice(0, -1);
}

type EventLine = Record<string, unknown> & { time: string; event: string };

function parseEvent(line: string): EventLine | undefined {
  try {
    const o = JSON.parse(line) as unknown;
    if (typeof o === 'object' && o !== null && 'event' in o && 'time' in o) return o as EventLine;
  } catch {
    // not JSON: another stderr line
  }
  return undefined;
}

/** The --events JSON lines printed so far. */
function eventLines(child: ChildRun): EventLine[] {
  return stderrLines(child)
    .map(parseEvent)
    .filter((e): e is EventLine => e !== undefined);
}

/** Wait for a complete stderr line satisfying `test`; rejects if the child exits first or after timeoutMs. */
function waitStderr(child: ChildRun, test: (line: string) => boolean, label: string, timeoutMs = T): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const check = (): boolean => {
      const found = stderrLines(child).find(test);
      if (found === undefined) return false;
      cleanup();
      resolve(found);
      return true;
    };
    // ChildRun's own listener was added first: child.stderr is up to date here.
    const onData = (): void => void check();
    const timer = setTimeout(() => {
      cleanup();
      reject(new TimeoutError(`${label} on stderr of ${child.label}\n--- stderr ---\n${child.stderr}`, timeoutMs));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.proc.stderr?.off('data', onData);
    };
    child.proc.stderr?.on('data', onData);
    void child.exited.then(() => {
      if (!check()) {
        cleanup();
        reject(new Error(`child exited before printing ${label}\n--- stderr ---\n${child.stderr}`));
      }
    });
    check();
  });
}

function waitEvent(child: ChildRun, test: (e: EventLine) => boolean, label: string): Promise<EventLine> {
  return waitStderr(
    child,
    (line) => {
      const e = parseEvent(line);
      return e !== undefined && test(e);
    },
    label,
  ).then((line) => parseEvent(line) as EventLine);
}

/** The stats JSON (the last stderr line that parses as an object with `connects`). */
function statsOf(stderr: string): Record<string, unknown> {
  const lines = stderr.split('\n').filter((l) => l.startsWith('{')).reverse();
  for (const l of lines) {
    const o = JSON.parse(l) as Record<string, unknown>;
    if ('connects' in o && 'messagesOut' in o) return o;
  }
  throw new Error(`no stats JSON on stderr:\n${stderr}`);
}

/** A loopback port nothing listens on: bound on port 0, then released. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen({ port: 0, host: '127.0.0.1', exclusive: true }, resolve);
  });
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('messages', () => {
  it('sends stdin lines as text messages and prints each received message on its own line', async () => {
    const s = await server();
    const child = cli([s.url]);
    const conn = await s.nextConnection(T);
    child.send('hello');
    child.send('héllo wörld ✓ with spaces');
    child.send('');
    child.send('after an empty line');
    expect(await conn.nextMessage(T)).toEqual({ data: Buffer.from('hello'), isBinary: false });
    expect(await conn.nextMessage(T)).toEqual({ data: Buffer.from('héllo wörld ✓ with spaces'), isBinary: false });
    expect(await conn.nextMessage(T)).toEqual({ data: Buffer.alloc(0), isBinary: false });
    expect(await conn.nextMessage(T)).toEqual({ data: Buffer.from('after an empty line'), isBinary: false });
    await child.waitLine('after an empty line', T);
    expect(child.outputLines).toEqual(['hello', 'héllo wörld ✓ with spaces', '', 'after an empty line']);
    // A message the server sends by itself.
    conn.ws.send('pushed by the server');
    await child.waitLine('pushed by the server', T);
  });

  it('prints binary messages as base64 by default; --binary-input sends lines as binary', async () => {
    const s = await server();
    const child = cli(['--binary-input', s.url]);
    const conn = await s.nextConnection(T);
    child.send('hello');
    expect(await conn.nextMessage(T)).toEqual({ data: Buffer.from('hello'), isBinary: true });
    await child.waitLine(Buffer.from('hello').toString('base64'), T);
    const bytes = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x41]);
    conn.ws.send(bytes, { binary: true });
    await child.waitLine(bytes.toString('base64'), T);
    expect(child.outputLines).toEqual(['aGVsbG8=', 'AP+ACkE=']);
  });

  it('--binary raw writes the bytes of binary messages as they are, each followed by a newline', async () => {
    const s = await server({ echo: false });
    s.wss.on('connection', (ws) => {
      ws.send(Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41]), { binary: true });
      ws.send('text after', { binary: false });
      ws.close(1000);
    });
    const dir = mkdtempSync(join(tmpdir(), 'nlws-cli-'));
    tmpDirs.push(dir);
    const outFile = join(dir, 'stdout');
    const fd = openSync(outFile, 'w');
    let child: ChildRun;
    try {
      // stdout straight into a file: the bytes exactly, no decoding on the way.
      child = cli(['--binary', 'raw', '--no-reconnect', s.url], { stdio: ['pipe', fd, 'pipe'] });
    } finally {
      closeSync(fd);
    }
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 0, signal: null, crashText: null });
    expect(readFileSync(outFile)).toEqual(Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41, 0x0a, ...Buffer.from('text after\n')]));
  });
});

describe('handshake options', () => {
  it('sends -H headers, --origin and -s subprotocols; --events shows the selected one', async () => {
    const s = await server({ handleProtocols: (offered) => (offered.has('chat.v2') ? 'chat.v2' : false) });
    const child = cli([
      '-H', 'X-Token: abc 123',
      '--header', 'X-Other:two',
      '-s', 'chat.v1',
      '--subprotocol', 'chat.v2',
      '--origin', 'https://origin.example',
      '--events',
      s.url,
    ]);
    const conn = await s.nextConnection(T);
    expect(conn.request.headers['x-token']).toBe('abc 123');
    expect(conn.request.headers['x-other']).toBe('two');
    expect(conn.request.headers.origin).toBe('https://origin.example');
    expect(conn.request.headers['sec-websocket-protocol']).toBe('chat.v1, chat.v2');
    const open = await waitEvent(child, (e) => e.event === 'open', 'the open event');
    expect(open).toMatchObject({ event: 'open', protocol: 'chat.v2', reconnected: false });
  });

  it('--events prints connection events as JSON lines with a timestamp and the event name', async () => {
    const s = await server();
    const child = cli(['--events', s.url]);
    const open = await waitEvent(child, (e) => e.event === 'open', 'the open event');
    expect(open.reconnected).toBe(false);
    child.send('x');
    await child.waitLine('x', T);
    child.proc.stdin?.end();
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 0, signal: null, crashText: null });
    const lines = stderrLines(child);
    const events = lines.map(parseEvent);
    // Every stderr line is an event (a clean run prints nothing else).
    expect(events.every((e) => e !== undefined), lines.join('\n')).toBe(true);
    for (const e of events as EventLine[]) {
      expect(Number.isNaN(Date.parse(e.time)), e.time).toBe(false);
      expect(new Date(e.time).toISOString()).toBe(e.time);
    }
    expect(events.map((e) => e?.event)).toEqual(['state', 'open', 'state', 'state', 'close']);
    expect(events[0]).toMatchObject({ state: 'open', previous: 'connecting' });
    expect(events[4]).toMatchObject({ code: 1000 });
  });
});

describe('ending and exit codes', () => {
  it('when stdin ends, sends what was queued (even before the open), closes with 1000 and exits 0', async () => {
    const s = await server();
    const child = cli(['--stats', s.url]);
    // Written and ended at once: the CLI reads EOF while still connecting.
    child.send('first');
    child.proc.stdin?.end('second\nlast line without newline');
    const conn = await s.nextConnection(T);
    expect((await conn.nextMessage(T)).data.toString()).toBe('first');
    expect((await conn.nextMessage(T)).data.toString()).toBe('second');
    expect((await conn.nextMessage(T)).data.toString()).toBe('last line without newline');
    expect(await conn.waitClose(T)).toEqual({ code: 1000, reason: '' });
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 0, signal: null, crashText: null });
    expect(statsOf(result.stderr)).toMatchObject({ state: 'closed', connects: 1, messagesOut: 3, drops: 0 });
  });

  it('lines beyond what the offline queue holds (1000) wait for the open: all are sent, in order', async () => {
    const s = await server({ echo: false });
    const child = cli([s.url]);
    const n = 3000;
    const lines = Array.from({ length: n }, (_, i) => `line ${i}`);
    child.proc.stdin?.end(`${lines.join('\n')}\n`);
    const conn = await s.nextConnection(T);
    const got: string[] = [];
    for (let i = 0; i < n; i++) got.push((await conn.nextMessage(T)).data.toString());
    expect(got).toEqual(lines);
    expect(await conn.waitClose(T)).toEqual({ code: 1000, reason: '' });
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 0, signal: null, crashText: null });
    expect(result.stderr).toBe('');
  });

  it('SIGINT closes with 1000, prints the stats JSON on stderr and exits 0', async () => {
    const s = await server();
    const child = cli([s.url]);
    const conn = await s.nextConnection(T);
    child.send('one');
    await child.waitLine('one', T);
    child.kill('SIGINT');
    expect(await conn.waitClose(T)).toEqual({ code: 1000, reason: '' });
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 0, signal: null, crashText: null });
    expect(statsOf(result.stderr)).toMatchObject({
      state: 'closed',
      connects: 1,
      messagesOut: 1,
      bytesOut: 3,
      messagesIn: 1,
      bytesIn: 3,
    });
  });

  it('--no-reconnect: the server closing with 1000 ends it with exit code 0', async () => {
    const s = await server();
    const child = cli(['--no-reconnect', s.url]);
    const conn = await s.nextConnection(T);
    child.send('before');
    await child.waitLine('before', T);
    expect(child.alive).toBe(true);
    conn.ws.close(1000, 'done');
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 0, signal: null, crashText: null });
    expect(s.connections).toBe(1);
  });

  it('--no-reconnect: the server closing with 1011 ends it with exit code 1', async () => {
    const s = await server();
    const child = cli(['--no-reconnect', s.url]);
    const conn = await s.nextConnection(T);
    conn.ws.close(1011, 'oops');
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 1, signal: null, crashText: null });
    expect(result.stderr).toMatch(/1011/);
  });

  it('exits 1 when the server refuses the upgrade with 404 (the session gives up)', async () => {
    const s = await server({ verifyClient: (_info, cb) => cb(false, 404) });
    const child = cli(['--events', s.url]);
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 1, signal: null, crashText: null });
    expect(eventLines(child).find((e) => e.event === 'giveup')).toMatchObject({ status: 404 });
    expect(result.stderr).toMatch(/gave up.*404/);
    expect(s.connections).toBe(0);
  });

  it('--no-reconnect exits 1 when nothing listens', async () => {
    const port = await closedPort();
    const child = cli(['--no-reconnect', `ws://127.0.0.1:${port}/`]);
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 1, signal: null, crashText: null });
    expect(result.stderr).toMatch(/ECONNREFUSED/);
  });

  it.each([
    ['no URL', [], /missing URL/],
    ['an unknown flag', ['--frobnicate', 'ws://127.0.0.1:1/'], /Unknown option '--frobnicate'/],
    ['an ftp: URL', ['ftp://127.0.0.1:1/'], /ws: or wss:/],
    ['an unparsable URL', ['not a url'], /invalid URL/],
    ['a bad --heartbeat', ['--heartbeat', '5s', 'ws://127.0.0.1:1/'], /--heartbeat/],
    ['--reconnect with --no-reconnect', ['--reconnect', '50', '--no-reconnect', 'ws://127.0.0.1:1/'], /exclude/],
    ['a bad --binary', ['--binary', 'hex', 'ws://127.0.0.1:1/'], /--binary/],
    ['two URLs', ['ws://127.0.0.1:1/', 'ws://127.0.0.1:2/'], /one URL/],
  ])('exits 2 with a usage hint for %s', async (_what, args, message) => {
    const child = cli(args);
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 2, signal: null, crashText: null });
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/--help/);
    expect(result.stdout).toBe('');
  });

  it('--help documents the flags and exit codes and exits 0; --version prints the version', async () => {
    const help = await cli(['--help']).waitExit(T);
    expect(exitOutcome(help)).toEqual({ code: 0, signal: null, crashText: null });
    expect(help.stdout).toMatch(/^Usage: node-libwebsockets/);
    for (const flag of ['--header', '--subprotocol', '--no-reconnect', '--binary', '--events', '--stats', 'Exit codes']) {
      expect(help.stdout).toContain(flag);
    }
    expect(help.stdout).toMatch(/^ {2}2 {2}bad usage/m);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const version = await cli(['--version']).waitExit(T);
    expect(exitOutcome(version)).toEqual({ code: 0, signal: null, crashText: null });
    expect(version.stdout).toMatch(new RegExp(`^node-libwebsockets ${pkg.version.replace(/\./g, '\\.')} \\(libwebsockets \\d`));
  });
});

describe('reconnection', () => {
  it('keeps echoing on a new connection after the server kills the first one (--reconnect 50)', async () => {
    const s = await server();
    const child = cli(['--reconnect', '50', '--events', s.url]);
    const first = await s.nextConnection(T);
    child.send('one');
    await child.waitLine('one', T);
    first.ws.terminate();
    const second = await s.nextConnection(T);
    await waitEvent(child, (e) => e.event === 'open' && e.reconnected === true, 'the reopen event');
    child.send('two');
    expect(await second.nextMessage(T)).toEqual({ data: Buffer.from('two'), isBinary: false });
    await child.waitLine('two', T);
    expect(child.outputLines).toEqual(['one', 'two']);
    expect(child.alive).toBe(true);
    expect(s.connections).toBe(2);
    const names = eventLines(child).map((e) => e.event);
    expect(names).toEqual(expect.arrayContaining(['disconnect', 'reconnecting']));
    const reconnecting = eventLines(child).find((e) => e.event === 'reconnecting');
    expect(reconnecting).toMatchObject({ attempt: 1 });
    // --reconnect 50 applies (the default first delay is 500 ms plus jitter).
    expect(reconnecting?.delayMs).toBeLessThan(500);
  });
});

describe('it always ends', () => {
  it('stdin at its end before a connection opened: the first failed attempt ends it with exit 1 and the error', async () => {
    const port = await closedPort();
    const child = cli([`ws://127.0.0.1:${port}/`]);
    child.proc.stdin?.end();
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 1, signal: null, crashText: null });
    expect(result.stderr).toContain(`connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(result.stderr).toContain('stdin ended before a connection opened');
  });

  it('reports every failed attempt on stderr while it keeps trying', async () => {
    const port = await closedPort();
    const child = cli(['--reconnect', '20', `ws://127.0.0.1:${port}/`]);
    await waitStderr(child, (l) => l.includes('retrying in') && l.includes('(attempt 2)'), 'the second retry');
    expect(child.stderr).toContain(`node-libwebsockets: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${port} (ws://127.0.0.1:${port}/)`);
    expect(child.alive).toBe(true);
  });

  it('--connect-timeout: exit 1 when no connection opened in time (an unknown host, stdin still open)', async () => {
    const child = cli(['--connect-timeout', '0.5', 'ws://no-such-host.invalid/']);
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 1, signal: null, crashText: null });
    expect(result.stderr).toContain('no connection within 0.5 s (--connect-timeout)');
    expect(result.stderr).toContain('getaddrinfo ENOTFOUND no-such-host.invalid');
  });

  it('SIGINT before any connection opened: exit 1, saying so', async () => {
    const port = await closedPort();
    const child = cli([`ws://127.0.0.1:${port}/`]);
    await waitStderr(child, (l) => l.includes('retrying in'), 'a failed attempt');
    child.kill('SIGINT');
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 1, signal: null, crashText: null });
    expect(result.stderr).toContain('interrupted (SIGINT) before a connection opened');
  });

  it('--wait: `echo hi | node-libwebsockets --wait 1 ws://echo` prints the reply', async () => {
    const s = await server();
    const child = cli(['--wait', '1', s.url]);
    child.proc.stdin?.end('hi\n');
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 0, signal: null, crashText: null });
    expect(result.stdout).toBe('hi\n');
  });

  it('without --wait, a reply the server sends before it answers the Close is printed', async () => {
    const s = await server();
    const child = cli([s.url]);
    child.proc.stdin?.end('last words\n');
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 0, signal: null, crashText: null });
    expect(result.stdout).toBe('last words\n');
  });

  it.each([['--wait', 'soon'], ['--connect-timeout', '-1'], ['--wait', ''], ['--max-redirects', '3']])('%s %j is bad usage', async (flag, value) => {
    const result = await cli([flag, value, 'ws://127.0.0.1:1/']).waitExit(T);
    expect(exitOutcome(result).code).toBe(2);
    expect(result.stderr).toContain(flag);
  });
});

describe('redirects', () => {
  /** A server that answers every upgrade with a 302 to `location`. */
  async function redirecting(location: string): Promise<RawServer> {
    const r = await startRawServer((conn) => {
      conn.write(`HTTP/1.1 302 Found\r\nLocation: ${location}\r\nContent-Length: 0\r\n\r\n`);
      conn.end();
    });
    servers.push(r);
    return r;
  }

  it('-L follows a redirect (an http: Location too) and --events reports it; without -L it exits 1', async () => {
    const s = await server();
    const r = await redirecting(`http://127.0.0.1:${s.port}/moved`);
    const child = cli(['-L', '--events', `ws://127.0.0.1:${r.port}/`]);
    const hop = await waitEvent(child, (e) => e.event === 'redirect', 'the redirect event');
    expect(hop).toMatchObject({ status: 302, to: `ws://127.0.0.1:${s.port}/moved`, crossOrigin: true });
    child.proc.stdin?.end('after the hop\n');
    const result = await child.waitExit(T);
    expect(exitOutcome(result)).toEqual({ code: 0, signal: null, crashText: null });
    expect(result.stdout).toBe('after the hop\n');

    const refused = await cli(['--no-reconnect', `ws://127.0.0.1:${r.port}/`]).waitExit(T);
    expect(exitOutcome(refused).code).toBe(1);
    expect(refused.stderr).toContain('ERR_UNEXPECTED_RESPONSE');
  });

  it('--max-redirects bounds the hops: ERR_TOO_MANY_REDIRECTS, exit 1', async () => {
    const s = await server();
    const r = await redirecting(`ws://127.0.0.1:${s.port}/`);
    const result = await cli(['-L', '--max-redirects', '0', '--no-reconnect', `ws://127.0.0.1:${r.port}/`]).waitExit(T);
    expect(exitOutcome(result).code).toBe(1);
    expect(result.stderr).toContain('ERR_TOO_MANY_REDIRECTS');
  });
});

describe('TLS flags', () => {
  type Case = [flag: string, cert: keyof ReturnType<typeof makeCerts>, trustCa: boolean];
  it.each<Case>([
    ['--allow-self-signed', 'selfSigned', false],
    ['--allow-unknown-ca', 'valid', false],
    ['--allow-invalid-dates', 'expired', true],
    ['--allow-host-mismatch', 'wrongHost', true],
  ])('%s accepts the certificate it names, which fails without it', async (flag, which, trustCa) => {
    const certs = makeCerts();
    const s = await server({ tls: { key: certs[which].key, cert: certs[which].cert } });
    const dir = mkdtempSync(join(tmpdir(), 'nlws-cli-'));
    tmpDirs.push(dir);
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, certs.ca.cert);
    const base = [...(trustCa ? ['--ca', ca] : []), '--no-reconnect', '--wait', '0.3', s.url];
    const refused = cli(base);
    refused.proc.stdin?.end('x\n');
    const r1 = await refused.waitExit(T);
    expect(exitOutcome(r1).code).toBe(1);
    const accepted = cli([flag, ...base]);
    accepted.proc.stdin?.end('x\n');
    const r2 = await accepted.waitExit(T);
    expect(exitOutcome(r2), r2.stderr).toEqual({ code: 0, signal: null, crashText: null });
    expect(r2.stdout).toBe('x\n');
  });

  it('--servername names the host for SNI and the certificate check; --passphrase unlocks --key', async () => {
    const certs = makeCerts();
    const s = await server({
      tls: { key: certs.valid.key, cert: certs.valid.cert, ca: certs.ca.cert, requestCert: true, rejectUnauthorized: true },
    });
    const dir = mkdtempSync(join(tmpdir(), 'nlws-cli-'));
    tmpDirs.push(dir);
    const file = (name: string, text: string): string => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const encrypted = createPrivateKey(certs.client.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'open sesame' });
    const args = ['--ca', file('ca.pem', certs.ca.cert), '--cert', file('client.pem', certs.client.cert), '--key', file('key.pem', String(encrypted))];
    // By IP address, the certificate's DNS name given as --servername.
    const url = `wss://127.0.0.1:${s.port}/`;
    const ok = cli([...args, '--passphrase', 'open sesame', '--servername', 'localhost', '--no-reconnect', '--wait', '0.3', url]);
    const conn = await s.nextConnection(T);
    expect(conn.request.headers.host).toBe(`localhost:${s.port}`);
    ok.proc.stdin?.end('secret\n');
    const r = await ok.waitExit(T);
    expect(exitOutcome(r), r.stderr).toEqual({ code: 0, signal: null, crashText: null });
    expect(r.stdout).toBe('secret\n');
    const wrong = await cli([...args, '--passphrase', 'wrong', '--no-reconnect', url]).waitExit(T);
    expect(exitOutcome(wrong).code).toBe(2);
    expect(wrong.stderr).toContain('key: cannot be read with the given passphrase');
  });
});

describe('--help and the README', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Command-line client'), readme.indexOf('\n## ', readme.indexOf('## Command-line client') + 5));

  it('list the same flags', async () => {
    const help = (await cli(['--help']).waitExit(T)).stdout;
    const flagsOf = (text: string): string[] => [...new Set([...text.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]))].sort();
    const inTable = section
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .map((l) => l.split('|')[1] ?? '')
      .join(' ');
    expect(flagsOf(inTable)).toEqual(flagsOf(help.slice(help.indexOf('Connection:'), help.indexOf('Signals:'))));
  });

  it('say the same about --heartbeat: a PING every interval', async () => {
    const help = (await cli(['--help']).waitExit(T)).stdout;
    expect(help).toMatch(/PING every intervalMs/);
    expect(help).not.toMatch(/without traffic/);
    const row = section.split('\n').find((l) => l.startsWith('| `--heartbeat'));
    expect(row).toMatch(/a PING every `intervalMs`/);
  });
});
