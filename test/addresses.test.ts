/**
 * Every address a name resolves to (happy eyeballs, RFC 8305; Node's
 * autoSelectFamily): the addresses are tried in order, families
 * interleaved, the next one autoSelectFamilyAttemptTimeout after the
 * previous started or at once when it failed; the first that connects at
 * TCP level wins and the others are closed before they send anything. The
 * address used is reported in `open` and stats().
 *
 * Two ways in: the `lookup` option (dns.lookup's signature) hands the
 * addresses over in-process; names in a private /etc/hosts (a child in its
 * own mount and network namespace, test/helpers/private-hosts.ts) go
 * through getaddrinfo as users' names do. The latter needs root; without it
 * those tests are skipped with the reason in their title, and
 * NLWS_NETNS_REQUIRED=1 (CI) makes that a failure.
 */
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type ConnectOptions, type OpenInfo, type WebSocketClient } from './lib';
import { addon as native } from '../dist/cjs/binding.js';
import { ChildRun, FIXTURES, exitOutcome, killAll } from './helpers/child';
import { hostsFile, privateHosts } from './helpers/private-hosts';
import { SYN_SENT, startSynBlackhole, tcpStatesTo, type SynBlackhole } from './helpers/syn-blackhole';
import { once, terminateAll, waitFor } from './helpers/wait';
import { startWsServer, type WsServer } from './helpers/ws-server';
import { join } from 'node:path';

const T = 10_000;
const NAME = 'svc.nlws.test';

type Lookup = NonNullable<ConnectOptions['lookup']>;
type LookupCall = { host: string; options: { family?: number; all?: boolean; hints?: number } };

const cleanups: Array<() => Promise<void> | void> = [];
const clients: WebSocketClient[] = [];

afterEach(async () => {
  await terminateAll(clients, T);
  await killAll();
  for (const f of cleanups.splice(0).reverse()) await f();
});

function client(url: string, options: ConnectOptions): WebSocketClient {
  const c = connect(url, options);
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

/** A lookup answering with these addresses, recording its calls. */
function lookupOf(addresses: string[], calls: LookupCall[] = []): Lookup {
  return ((host: string, options: LookupCall['options'], cb: (e: Error | null, a: unknown) => void) => {
    calls.push({ host, options });
    cb(null, addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  }) as unknown as Lookup;
}

function refused(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** A ws server on 127.0.0.2 whose port refuses connections on 127.0.0.1 (checked; bounded retries). */
async function serverBehindRefused(): Promise<WsServer> {
  for (let i = 0; i < 10; i++) {
    const s = await startWsServer({ host: '127.0.0.2', echo: true, defaultTimeoutMs: T });
    if (await refused(s.port, '127.0.0.1')) {
      cleanups.push(() => s.close());
      return s;
    }
    await s.close();
  }
  throw new Error('no port free on 127.0.0.1 beside one on 127.0.0.2 in 10 tries');
}

/** A ws server on 127.0.0.2:P and a listener dropping SYNs on 127.0.0.1:P (bounded retries). */
async function serverBehindBlackhole(): Promise<{ server: WsServer; hole: SynBlackhole }> {
  for (let i = 0; i < 10; i++) {
    const server = await startWsServer({ host: '127.0.0.2', echo: true, defaultTimeoutMs: T });
    try {
      const hole = await startSynBlackhole(T, { port: server.port, hosts: ['127.0.0.1'] });
      cleanups.push(() => server.close(), () => hole.close());
      return { server, hole };
    } catch {
      await server.close(); // 127.0.0.1:P was taken: another port
    }
  }
  throw new Error('no port free on both 127.0.0.1 and 127.0.0.2 in 10 tries');
}

async function opened(c: WebSocketClient): Promise<OpenInfo> {
  const [info] = await once<[OpenInfo]>(c, 'open', T);
  return info;
}

describe('the order in which addresses are tried (RFC 8305 section 4)', () => {
  it.each([
    [['127.0.0.1', '127.0.0.2'], 0, ['127.0.0.1', '127.0.0.2']],
    // The first address's family first, then the families alternate, each keeping its order.
    [['::1', '::2', '::3', '127.0.0.1', '127.0.0.2'], 0, ['::1', '127.0.0.1', '::2', '127.0.0.2', '::3']],
    [['127.0.0.1', '::1', '127.0.0.2', '127.0.0.3'], 0, ['127.0.0.1', '::1', '127.0.0.2', '127.0.0.3']],
    // Duplicates go; so does what is not an address.
    [['127.0.0.1', '127.0.0.1', 'example.com', '::1', '::1'], 0, ['127.0.0.1', '::1']],
    [['::1', '127.0.0.1', '::2'], 4, ['127.0.0.1']],
    [['::1', '127.0.0.1', '::2'], 6, ['::1', '::2']],
    [['127.0.0.1'], 6, []],
  ] as const)('%j, family %i: %j', (given, family, expected) => {
    expect(native.testing.orderAddresses([...given], family)).toEqual(expected);
  });
});

describe('racing the addresses of a name (lookup option)', () => {
  it('opens through the second address at once when the first refuses, and says which it used', async () => {
    const server = await serverBehindRefused();
    const calls: LookupCall[] = [];
    const c = client(`ws://${NAME}:${server.port}/`, { reconnect: false, lookup: lookupOf(['127.0.0.1', '127.0.0.2'], calls) });
    const info = await opened(c);
    expect(info.remote).toEqual({ address: '127.0.0.2', family: 'IPv4', port: server.port });
    expect(c.stats().remote).toEqual(info.remote);
    // Asked the way net.connect asks with autoSelectFamily: every address.
    expect(calls).toEqual([{ host: NAME, options: expect.objectContaining({ all: true, family: 0 }) }]);
    expect(server.connections).toBe(1);
  });

  it('starts the next address after autoSelectFamilyAttemptTimeout when the first is black-holed, and closes that attempt', async () => {
    const { server, hole } = await serverBehindBlackhole();
    const c = client(`ws://${NAME}:${server.port}/`, {
      reconnect: false,
      autoSelectFamilyAttemptTimeout: 100,
      lookup: lookupOf(['127.0.0.1', '127.0.0.2']),
    });
    const info = await opened(c);
    expect(info.remote.address).toBe('127.0.0.2');
    // The second address started only when the first had had its 100 ms.
    expect(info.handshake.tcpMs).toBeGreaterThanOrEqual(95);
    // The black-holed SYN is given up once the other address won.
    await waitFor(() => !tcpStatesTo(hole.port, '127.0.0.1').includes(SYN_SENT), T, { label: 'the black-holed attempt to close' });
    expect(server.connections).toBe(1);
    const conn = await server.nextConnection(T);
    c.send('still here');
    expect(String((await conn.nextMessage(T)).data)).toBe('still here');
  });

  it('with autoSelectFamily: false, uses only the first address, as net.connect does', async () => {
    const server = await serverBehindRefused();
    const calls: LookupCall[] = [];
    const c = client(`ws://${NAME}:${server.port}/`, {
      reconnect: false,
      autoSelectFamily: false,
      lookup: lookupOf(['127.0.0.1', '127.0.0.2'], calls),
    });
    const closed = once(c, 'close', T, { rejectOnError: false });
    const [err] = await once<[{ code: string }]>(c, 'error', T);
    expect(err.code).toBe('ECONNREFUSED');
    await closed;
    expect(calls[0]!.options.all).toBe(false);
    expect(server.connections).toBe(0);
  });

  it('family: 4 or 6 keeps that family only, and says so when the name has none', async () => {
    const server = await serverBehindRefused();
    const calls: LookupCall[] = [];
    // The lookup ignores `family`: the client filters all the same.
    const v6 = client(`ws://${NAME}:${server.port}/`, { reconnect: false, family: 6, lookup: lookupOf(['127.0.0.2'], calls) });
    const [err] = await once<[{ code: string; message: string }]>(v6, 'error', T);
    expect(err.code).toBe('ENOTFOUND');
    expect(err.message).toContain('no IPv6 address');
    expect(calls[0]!.options.family).toBe(6);
    const v4 = client(`ws://${NAME}:${server.port}/`, { reconnect: false, family: 4, lookup: lookupOf(['::1', '127.0.0.2']) });
    expect((await opened(v4)).remote.address).toBe('127.0.0.2');
  });

  it('takes the single-address answer form (address, family) too', async () => {
    const server = await startWsServer({ echo: true, defaultTimeoutMs: T });
    cleanups.push(() => server.close());
    const lookup = ((_h: string, _o: unknown, cb: (e: null, a: string, f: number) => void) => cb(null, '127.0.0.1', 4)) as unknown as Lookup;
    const c = client(`ws://${NAME}:${server.port}/`, { reconnect: false, lookup });
    expect((await opened(c)).remote.address).toBe('127.0.0.1');
  });

  it.each([
    ['an error with a code', (_h: string, _o: unknown, cb: (e: Error) => void) => cb(Object.assign(new Error('no such name'), { code: 'ENOTFOUND' })), 'ENOTFOUND'],
    ['an error without one', (_h: string, _o: unknown, cb: (e: Error) => void) => cb(new Error('registry down')), 'ERR_LOOKUP'],
    ['an error with a code of its own', (_h: string, _o: unknown, cb: (e: Error) => void) => cb(Object.assign(new Error('nope'), { code: 'EREGISTRY' })), 'ERR_LOOKUP'],
    ['a throw', () => {
      throw new Error('boom');
    }, 'ERR_LOOKUP'],
    ['no IP address', (_h: string, _o: unknown, cb: (e: null, a: unknown[]) => void) => cb(null, [{ address: 'example.com', family: 4 }]), 'ERR_INVALID_IP_ADDRESS'],
  ])('fails the attempt (cause dns) when the lookup gives %s', async (_what, fn, code) => {
    const c = client(`ws://${NAME}:9/`, { reconnect: { backoffMs: [10000] }, lookup: fn as unknown as Lookup });
    const reconnecting = once<[{ cause: string }]>(c, 'reconnecting', T, { rejectOnError: false });
    const [err] = await once<[{ code: string; url: string }]>(c, 'error', T);
    expect(err.code).toBe(code);
    expect(err.url).toBe(`ws://${NAME}:9/`);
    const [r] = await reconnecting;
    expect(r.cause).toBe('dns');
  });

  it('ignores a second answer, and an answer after the attempt timed out', async () => {
    const server = await startWsServer({ echo: true, defaultTimeoutMs: T });
    cleanups.push(() => server.close());
    let late: ((e: null, a: unknown[]) => void) | undefined;
    let calls = 0;
    const lookup = ((_h: string, _o: unknown, cb: (e: null, a: unknown[]) => void) => {
      calls++;
      if (calls === 1) {
        late = cb; // never answered in time
        return;
      }
      cb(null, [{ address: '127.0.0.1', family: 4 }]);
      cb(null, [{ address: '127.0.0.9', family: 4 }]);
    }) as unknown as Lookup;
    const c = client(`ws://${NAME}:${server.port}/`, { handshakeTimeout: 1000, reconnect: { backoffMs: [1] }, lookup });
    const open = once<[OpenInfo]>(c, 'open', T, { rejectOnError: false });
    const [err] = await once<[{ code: string }]>(c, 'error', T);
    expect(err.code).toBe('ETIMEDOUT');
    const [info] = await open;
    expect(info.remote.address).toBe('127.0.0.1');
    late?.(null, [{ address: '127.0.0.9', family: 4 }]); // the first attempt's, long over
    c.send('x');
    const conn = await server.nextConnection(T);
    expect(String((await conn.nextMessage(T)).data)).toBe('x');
    expect(calls).toBe(2);
  });

  it.each(['close', 'terminate'] as const)('%s() while two addresses are being tried ends the session and both attempts', async (how) => {
    const hole = await startSynBlackhole(T, { hosts: ['127.0.0.1', '127.0.0.2'] });
    cleanups.push(() => hole.close());
    const c = client(`ws://${NAME}:${hole.port}/`, {
      reconnect: false,
      autoSelectFamilyAttemptTimeout: 10,
      handshakeTimeout: 60_000,
      lookup: lookupOf(['127.0.0.1', '127.0.0.2']),
    });
    await hole.waitSynSent(T, '127.0.0.1');
    await hole.waitSynSent(T, '127.0.0.2');
    const closed = once<[number]>(c, 'close', T);
    if (how === 'close') void c.close();
    else c.terminate();
    const [code] = await closed;
    expect(code).toBe(1006);
    await waitFor(
      () => !tcpStatesTo(hole.port, '127.0.0.1').includes(SYN_SENT) && !tcpStatesTo(hole.port, '127.0.0.2').includes(SYN_SENT),
      T,
      { label: 'both attempts to close' },
    );
  });
});

/** CI sets it: these tests must run there, not skip. */
const required = process.env.NLWS_NETNS_REQUIRED === '1';
const skip = !privateHosts.ok && !required;

interface ScenarioResult {
  lines: Array<Record<string, unknown>>;
  open: { remote: OpenInfo['remote']; handshake: OpenInfo['handshake']; stats: OpenInfo['remote'] } | undefined;
  upgrades: Record<string, number>;
}

async function scenario(name: string, hosts: string[], options: ConnectOptions = {}): Promise<ScenarioResult> {
  const file = hostsFile(hosts.map((a) => `${a} ${NAME}`));
  cleanups.push(() => file.remove());
  const [command, args] = file.wrap(process.execPath, [join(FIXTURES, 'addresses.cjs'), name, NAME, JSON.stringify(options)]);
  const child = new ChildRun(command, args);
  const result = await child.waitExit(T);
  expect(exitOutcome(result), `stderr:\n${result.stderr}\nstdout:\n${result.stdout}`).toEqual({ code: 0, signal: null, crashText: null });
  const lines = child.outputLines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const done = lines.find((l) => l.ev === 'done') as { upgrades: Record<string, number> };
  return { lines, open: lines.find((l) => l.ev === 'open') as ScenarioResult['open'], upgrades: done.upgrades };
}

describe(`names with several addresses in /etc/hosts${skip ? ` (skipped: ${privateHosts.why})` : ''}`, () => {
  const test = skip ? it.skip : it;

  test('refused first: opens through the second address, with one upgrade request on the server', async () => {
    expect(privateHosts.ok, privateHosts.why).toBe(true);
    const r = await scenario('refused-first', ['127.0.0.1', '127.0.0.2']);
    expect(r.open?.remote.address, JSON.stringify(r.lines)).toBe('127.0.0.2');
    expect(r.open?.stats).toEqual(r.open?.remote);
    expect(r.upgrades).toEqual({ '127.0.0.2': 1 });
  });

  test('black-holed first: opens through the second after the attempt delay, and drops the black-holed attempt', async () => {
    expect(privateHosts.ok, privateHosts.why).toBe(true);
    const r = await scenario('blackholed-first', ['127.0.0.1', '127.0.0.2']);
    expect(r.open?.remote.address, JSON.stringify(r.lines)).toBe('127.0.0.2');
    // Node's default attempt delay, 250 ms, before the second address started.
    expect(r.open?.handshake.tcpMs).toBeGreaterThanOrEqual(245);
    expect(r.lines.some((l) => l.ev === 'synsent-gone')).toBe(true);
    expect(r.upgrades).toEqual({ '127.0.0.2': 1 });
  });

  test('IPv6 ::1 first and only IPv4 listening: opens over IPv4', async () => {
    expect(privateHosts.ok, privateHosts.why).toBe(true);
    const r = await scenario('ipv6-first', ['::1', '127.0.0.1']);
    expect(r.open?.remote, JSON.stringify(r.lines)).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
    expect(r.upgrades).toEqual({ '127.0.0.1': 1 });
  });

  test('autoSelectFamily: false keeps the first address only (refused, as with net.connect)', async () => {
    expect(privateHosts.ok, privateHosts.why).toBe(true);
    const r = await scenario('refused-first', ['127.0.0.1', '127.0.0.2'], { autoSelectFamily: false });
    expect(r.open).toBeUndefined();
    expect(r.lines.find((l) => l.ev === 'error')).toMatchObject({ code: 'ECONNREFUSED' });
    expect(r.upgrades).toEqual({});
  });

  test('family: 6 with an IPv4-only server never opens; family: 4 opens without trying ::1', async () => {
    expect(privateHosts.ok, privateHosts.why).toBe(true);
    const v6 = await scenario('ipv6-first', ['::1', '127.0.0.1'], { family: 6 });
    expect(v6.open).toBeUndefined();
    expect(v6.lines.find((l) => l.ev === 'error')).toMatchObject({ code: 'ECONNREFUSED' });
    const v4 = await scenario('ipv6-first', ['::1', '127.0.0.1'], { family: 4 });
    expect(v4.open?.remote.address).toBe('127.0.0.1');
  });
});
