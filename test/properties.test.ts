// Property-based tests (fast-check) of the façade: any combination of URL,
// options and call arguments either works or throws a typed error (an Error
// whose `code` starts with ERR_; URL errors also carry the URL), and nothing
// invalid reaches the native layer (that would abort this test process).
//
// Every accepted connect() really runs, against a local ws server or an
// unused loopback port, and is closed again. Hosts are loopback only: URL
// and proxy generators never produce a name that would need DNS.
//
// Runs are bounded and seeded, so CI repeats the same cases. A failure
// prints the seed and the shrunk counterexample; FC_SEED=<n> replays a seed
// and FC_RUNS=<n> runs each property longer by hand; FC_NO_SHRINK=1 skips
// shrinking; FC_TRACE=<file> logs each connect() case (for crashes).
import { appendFileSync } from 'node:fs';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, WebSocketClient, type ConnectOptions, type WebSocketError } from './lib';
import { makeCerts } from './helpers/certs';
import { startWsServer, type WsServer } from './helpers/ws-server';
import { exitOutcome, killAll, runFixture } from './helpers/child';
import { once, waitFor, withTimeout } from './helpers/wait';

const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 0x51ed5eed;
const T = 10_000;
const certs = makeCerts();

let server: WsServer;
let deadPort: number;
const created: WebSocketClient[] = [];

beforeAll(async () => {
  // proxyFromEnv must not find a proxy in the CI environment.
  for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY']) delete process.env[k];
  server = await startWsServer({ echo: true });
  // An unused loopback port: a server that has been closed again.
  const gone = await startWsServer();
  deadPort = gone.port;
  await gone.close();
});

afterAll(async () => {
  for (const c of created) c.terminate();
  await server.close();
});

/** fc.assert with the fixed seed and a run count FC_RUNS may raise; names the seed on failure. */
async function check<Ts extends [unknown, ...unknown[]]>(property: fc.IAsyncProperty<Ts>, numRuns: number): Promise<void> {
  const runs = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : numRuns;
  try {
    // FC_NO_SHRINK=1 reports the first failure as found (faster when each run can time out).
    await fc.assert(property, { seed: SEED, numRuns: runs, endOnFailure: process.env.FC_NO_SHRINK === '1' });
  } catch (error) {
    // fast-check's message holds the seed, path and counterexample already;
    // say how to replay it.
    const e = error as Error;
    e.message = `replay with FC_SEED=${SEED}\n${e.message}`;
    throw e;
  }
}

/**
 * FC_TRACE=<file> appends each connect() case before it runs: a crash kills
 * this process before fast-check can report, and the file's last entry (or
 * one shortly before it, as sessions run on) is the input to look at.
 */
function trace(value: unknown): void {
  const file = process.env.FC_TRACE;
  if (file) appendFileSync(file, `${inspect(value, { depth: 5, maxStringLength: 200, breakLength: Infinity })}\n`);
}

/** Returns why `e` is not a typed error, or '' if it is one. */
function untyped(e: unknown): string {
  if (!(e instanceof Error)) return `threw a non-Error: ${typeof e}`;
  const code = (e as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('ERR_')) return `untyped ${e.name}: ${e.message}`;
  return '';
}

function expectTyped(e: unknown, what: string): asserts e is Error & { code: string } {
  const why = untyped(e);
  if (why) throw new Error(`${what}: ${why}`, { cause: e });
}

// Values of the wrong type for any option or argument.
const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null, NaN, Infinity, -Infinity, -1, -0, 0.5, 2 ** 53, 2 ** 64, 1e300, '', '1', 'true', true, false,
    [], {}, Symbol('junk'), 10n, () => 1, new Date(0), Buffer.alloc(3), new Uint8Array(2), Object.create(null),
  ),
  fc.anything({ maxDepth: 2 }),
);
const maybeJunk = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | unknown> => fc.oneof({ weight: 3, arbitrary: arb }, { weight: 1, arbitrary: junk });

// Numbers around the edges of every range the options use.
const edgeNumber = fc.oneof(
  fc.integer({ min: -2, max: 70_000 }),
  fc.constantFrom(0, 1, 100, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 65534, 65535, 65536, 2 ** 53 - 1, 2 ** 53, NaN, Infinity, -Infinity, 0.5, -0),
  fc.double(),
);
const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }));
const longText = fc.integer({ min: 200, max: 20_000 }).chain((n) => fc.constantFrom('a', 'é', '😀', '\r\n', '\0').map((c) => c.repeat(n)));
const anyText = fc.oneof({ weight: 4, arbitrary: text }, { weight: 1, arbitrary: longText });
// Text a header value may carry (no CR, LF or NUL), long ones included.
const headerText = anyText.map((t) => t.replace(/[\r\n\0]/g, ' '));
const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20}$/);
const MAX_MS = 2 ** 31 - 1;
// A value in [min, max], mostly small (timers that fire) or anywhere.
const within = (min: number, max: number): fc.Arbitrary<number> =>
  fc.oneof(fc.integer({ min, max: Math.min(max, min + 200) }), fc.integer({ min, max: Math.min(max, Number.MAX_SAFE_INTEGER) }));

const RESERVED = new Set(['host', 'connection', 'upgrade', 'origin', 'sec-websocket-key', 'sec-websocket-version',
  'sec-websocket-extensions', 'sec-websocket-protocol', 'content-length', 'transfer-encoding']);
const headersArb = fc.oneof(
  fc.dictionary(token.filter((k) => !RESERVED.has(k.toLowerCase())), fc.oneof<fc.Arbitrary<unknown>[]>(token, headerText, fc.integer()), { maxKeys: 4 }),
  fc.constant(() => ({ 'x-dynamic': '1' })),
  fc.constant(() => ({ 'bad header': 'x' })),
);
const backoffArb = fc.array(within(0, MAX_MS), { minLength: 1, maxLength: 64 });
const reconnectArb = fc.oneof(
  fc.boolean(),
  fc.record(
    {
      backoffMs: backoffArb, jitter: fc.constantFrom('full', 'add'), jitterPercent: within(0, 100), maxRetryAfterMs: within(0, MAX_MS),
      maxAttempts: within(0, 65534), resetAfterMs: within(0, MAX_MS), onNormalClose: fc.boolean(),
    },
    { requiredKeys: [] },
  ),
);
const heartbeatArb = fc.oneof(
  fc.boolean(),
  fc.record({ intervalMs: within(1, MAX_MS), timeoutMs: within(1, MAX_MS), pongOnly: fc.boolean() }, { requiredKeys: [] }),
);
const queueArb = fc.record(
  {
    maxMessages: within(0, 2 ** 32 - 1),
    maxBytes: within(0, 2 ** 53 - 1),
    ttlMs: within(0, MAX_MS),
    overflow: fc.constantFrom('reject', 'drop-oldest', 'drop-newest'),
  },
  { requiredKeys: [] },
);
const retryEntry = fc.record(
  {
    backoff: fc.array(within(0, MAX_MS), { minLength: 1, maxLength: 8 }),
    conceal: within(0, 65535),
    jitterpc: within(0, 100),
    svalidping: within(0, 65535),
    svalidhup: within(0, 65535),
  },
  { requiredKeys: [] },
);
const policyArb = fc.oneof(
  retryEntry,
  retryEntry.map((e) => ({ retry: [{ default: e }] })),
  retryEntry.map((e) => JSON.stringify({ retry: [{ default: e }] })),
);
const pem = (label: string, body: string): string => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
const caArb = fc.constantFrom<unknown>(certs.ca.cert, [certs.ca.cert, certs.selfSigned.cert], Buffer.from(certs.ca.cert));
// Proxies: loopback only, or not a usable URL at all (never a name to resolve).
const proxyArb = fc.constantFrom<unknown>('http://127.0.0.1:1', 'http://u:p@127.0.0.1:1', 'http://[::1]:1', 'http://127.0.0.1', '', new URL('http://127.0.0.1:1'));
const badProxy = fc.constantFrom<unknown>(
  'http://127.0.0.1:0', 'https://127.0.0.1:1', 'socks5://127.0.0.1:1', 'http://127.0.0.1:99999', 'not a url', 'http://',
  `http://${'u'.repeat(60)}:${'p'.repeat(60)}@127.0.0.1:1`, 'http://%zz:p@127.0.0.1:1',
);

// Each option with values of its own type (mostly in range) ...
const validOptions: Record<string, fc.Arbitrary<unknown>> = {
  headers: headersArb,
  reconnect: reconnectArb,
  heartbeat: heartbeatArb,
  stallTimeoutMs: within(0, MAX_MS),
  maxConnectionAgeMs: within(0, MAX_MS),
  maxConnectionAgeJitterPercent: within(0, 100),
  rotationOverlapMs: within(0, MAX_MS),
  queue: queueArb,
  onOpen: fc.constant(() => undefined),
  shouldReconnect: fc.constant(() => false),
  dedupeKey: fc.constant((d: unknown) => d),
  configTimeoutMs: within(1, MAX_MS),
  policy: policyArb,
  eventLogSize: within(0, 1000),
  protocols: fc.oneof(token, fc.uniqueArray(token, { maxLength: 4 })),
  origin: headerText,
  followRedirects: fc.boolean(),
  autoSelectFamily: fc.boolean(),
  autoSelectFamilyAttemptTimeout: within(1, MAX_MS),
  family: fc.constantFrom(0, 4, 6),
  lookup: fc.constant((_h: string, _o: unknown, cb: (e: null, a: Array<{ address: string; family: number }>) => void) =>
    cb(null, [{ address: '127.0.0.1', family: 4 }])),
  perMessageDeflate: fc.boolean(),
  maxPayload: within(0, 2 ** 53 - 1),
  textAsBuffer: fc.boolean(),
  handshakeTimeout: within(1, MAX_MS),
  closeTimeout: within(1, MAX_MS),
  highWaterMark: within(1, 2 ** 53 - 1),
  receiveHighWaterMark: within(1, 2 ** 53 - 1),
  fragmentSize: within(1, MAX_MS),
  ca: caArb,
  passphrase: headerText,
  servername: fc.oneof(fc.domain(), fc.constant('localhost')),
  rejectUnauthorized: fc.boolean(),
  allowSelfSigned: fc.boolean(),
  allowUnknownCA: fc.boolean(),
  allowInvalidDates: fc.boolean(),
  allowHostMismatch: fc.boolean(),
  proxy: proxyArb,
  proxyFromEnv: fc.boolean(),
  logger: fc.constant(() => undefined),
};
const clientPair = fc.constantFrom<Record<string, unknown>>({}, { cert: certs.client.cert, key: certs.client.key });

// ... and values that are not: wrong types, edge numbers, odd strings,
// half-valid nested objects, unknown names.
const badValue: fc.Arbitrary<unknown> = fc.oneof(
  junk,
  edgeNumber,
  anyText,
  fc.record({ backoffMs: fc.oneof(junk, fc.array(fc.oneof(edgeNumber, junk), { maxLength: 70 })), jitterPercent: edgeNumber, unknownKey: junk }, { requiredKeys: [] }),
  fc.record({ intervalMs: fc.oneof(edgeNumber, junk), timeoutMs: fc.oneof(edgeNumber, junk), pongOnly: junk }, { requiredKeys: [] }),
  fc.record({ maxMessages: edgeNumber, maxBytes: edgeNumber, ttlMs: edgeNumber, overflow: fc.oneof(junk, text) }, { requiredKeys: [] }),
  retryEntry.map((e) => ({ ...e, conceal: -1 })),
  fc.constantFrom<unknown>('{', '[]', '{"retry": []}', '{"retry": [1]}', 'null', { retry: [{ x: { backoff: [NaN] } }] }),
  fc.array(fc.oneof(token, text, junk), { maxLength: 4 }),
  fc.base64String({ maxLength: 60 }).map((b) => pem('CERTIFICATE', b)),
  fc.base64String({ maxLength: 60 }).map((b) => pem('PRIVATE KEY', b)),
  fc.constantFrom<unknown>(null, 5, {}, [], true, Symbol('proxy'), 10n),
  badProxy,
  fc.dictionary(text, fc.oneof(text, junk), { maxKeys: 3 }),
);
const optionNames = [...Object.keys(validOptions), 'lowWaterMark', 'cert', 'key', 'notAnOption', '__proto__', 'constructor'];

const optionsArb: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    fc.record(validOptions, { requiredKeys: [] }),
    clientPair,
    fc.oneof(
      { weight: 1, arbitrary: fc.constant<Array<[string, unknown]>>([]) },
      { weight: 1, arbitrary: fc.array(fc.tuple(fc.constantFrom(...optionNames), badValue), { minLength: 1, maxLength: 2 }) },
    ),
  )
  .map(([valid, pair, bad]) => {
    const o: Record<string, unknown> = { ...valid, ...pair };
    // defineProperty: '__proto__' becomes an own key, as JSON.parse makes it.
    for (const [k, v] of bad) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
    return o;
  });

// URLs: assembled from odd parts (schemes, userinfo, IPv6 literals, ports
// 0 and 65536, fragments, unicode, very long paths) on loopback hosts.
const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);
function urlArb(livePort: () => number): fc.Arbitrary<unknown> {
  const scheme = fc.oneof(
    { weight: 4, arbitrary: fc.constant('ws') },
    { weight: 2, arbitrary: fc.constantFrom('wss', 'WS', 'Wss') },
    { weight: 1, arbitrary: fc.constantFrom('http', 'https', 'ftp', 'file', 'ws+unix', 'javascript', '') },
  );
  const userinfo = fc.oneof(
    { weight: 4, arbitrary: fc.constant('') },
    { weight: 1, arbitrary: fc.constantFrom('user@', 'user:pass@', ':@', 'ü:ñ@', '%zz@', 'a%00b@', `${'u'.repeat(300)}:p@`) },
  );
  const host = fc.oneof(
    { weight: 4, arbitrary: fc.constant('127.0.0.1') },
    { weight: 1, arbitrary: fc.constantFrom('[::1]', 'localhost', 'LOCALHOST', '127.1', '0x7f.0.0.1', '[0:0:0:0:0:0:0:1]', '[::1', '', '[::ffff:127.0.0.1]') },
  );
  const port = fc.oneof(
    { weight: 4, arbitrary: fc.constant('live') },
    { weight: 1, arbitrary: fc.constant('dead') },
    { weight: 2, arbitrary: fc.constantFrom('', '0', '1', '65535', '65536', '99999', '-1', 'abc', '080') },
  );
  const path = fc.oneof(
    { weight: 3, arbitrary: fc.constant('/') },
    { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map((s) => `/${encodeURIComponent(s).replace(/%25/g, '%')}`) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map((s) => `/${s}`) },
    { weight: 1, arbitrary: longText.map((s) => `/${encodeURIComponent(s)}`) },
  );
  const query = fc.option(fc.string({ unit: 'binary', maxLength: 20 }), { nil: undefined });
  const fragment = fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
  );
  const assembled = fc
    .record({ scheme, userinfo, host, port, path, query, fragment })
    .map(({ scheme: s, userinfo: u, host: h, port: p, path: pa, query: q, fragment: f }) => {
      const portText = p === 'live' ? String(livePort()) : p === 'dead' ? String(deadPort) : p;
      return `${s}://${u}${h}${portText ? `:${portText}` : ''}${pa}${q === undefined ? '' : `?${q}`}${f === undefined ? '' : `#${f}`}`;
    });
  return fc.oneof(
    { weight: 6, arbitrary: assembled },
    { weight: 1, arbitrary: assembled.map((s) => safeUrlObject(s)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 1, arbitrary: junk },
    { weight: 1, arbitrary: fc.constant(() => `ws://127.0.0.1:${livePort()}/from-function`) },
    { weight: 1, arbitrary: fc.constant(() => 'http://127.0.0.1/not-ws') },
  );
}

function safeUrlObject(s: string): unknown {
  try {
    return new URL(s);
  } catch {
    return s;
  }
}

/** True unless `url` is a ws/wss URL whose host is not loopback (which would need DNS). */
function staysOnLoopback(url: unknown): boolean {
  let parsed: URL;
  try {
    parsed = url instanceof URL ? url : new URL(String(url as string));
  } catch {
    return true;
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') return true;
  return LOOPBACK.has(parsed.hostname);
}

/**
 * Runs an accepted client to its end: optionally until it opened or failed,
 * then close(); resolves once 'close' was emitted. Every 'error' it emitted
 * must carry a string code.
 */
async function runToEnd(c: WebSocketClient, settleFirst: boolean): Promise<void> {
  const errors: WebSocketError[] = [];
  c.on('error', (e) => errors.push(e));
  const closed = c.state === 'closed' ? Promise.resolve() : once(c, 'close', T, { rejectOnError: false }).then(() => undefined);
  if (settleFirst) {
    await withTimeout(
      Promise.race([c.opened.catch(() => undefined), closed, once(c, 'error', T, { rejectOnError: false }).catch(() => undefined)]),
      T,
      'open or failure',
    );
  }
  await withTimeout(c.close(), T, 'close()');
  await closed;
  expect(c.state).toBe('closed');
  // Closed means closed: no connection of this session is left on the server.
  await waitFor(() => server.wss.clients.size === 0, T, { label: 'the server to see every connection of the session end' });
  for (const e of errors) {
    expect(e, 'error event').toBeInstanceOf(Error);
    expect(typeof e.code, `code of ${e.message}`).toBe('string');
    expect(e.code.length).toBeGreaterThan(0);
  }
}

describe('connect(url, options)', () => {
  it('either returns a client that runs and closes cleanly, or throws a typed error', async () => {
    let accepted = 0;
    let rejected = 0;
    const codes = new Map<string, number>();
    await check(
      fc.asyncProperty(urlArb(() => server.port), optionsArb, fc.boolean(), async (url, options, settleFirst) => {
        fc.pre(staysOnLoopback(url));
        trace([url, options, settleFirst]);
        let c: WebSocketClient;
        try {
          c = connect(url as string, options as ConnectOptions);
        } catch (e) {
          expectTyped(e, 'connect() threw');
          if (e.code === 'ERR_INVALID_URL' && (typeof url === 'string' || url instanceof URL)) {
            expect((e as { url?: unknown }).url, 'ERR_INVALID_URL names the URL').toBe(String(url));
          }
          rejected++;
          codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
          return;
        }
        accepted++;
        created.push(c);
        await runToEnd(c, settleFirst);
      }),
      400,
    );
    // The generators reach both outcomes (a property that only ever threw
    // would prove nothing about the native side).
    const runs = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 400;
    console.info(`connect(): ${accepted} accepted and run, ${rejected} rejected: ${JSON.stringify([...codes])}`);
    expect(accepted, `accepted of ${runs}; codes thrown: ${JSON.stringify([...codes])}`).toBeGreaterThan(runs / 10);
    expect(rejected).toBeGreaterThan(runs / 10);
    expect(codes.size).toBeGreaterThan(3);
  }, 240_000);

  it('a URL function that returns junk fails the attempt with a coded error event, never a crash', async () => {
    await check(
      fc.asyncProperty(urlArb(() => server.port), async (url) => {
        fc.pre(staysOnLoopback(typeof url === 'function' ? 'x:' : url));
        const c = connect(() => url as string, { reconnect: false, heartbeat: false });
        created.push(c);
        await runToEnd(c, true);
      }),
      100,
    );
  }, 120_000);
});

describe('send, ping and close on an open connection', () => {
  let c: WebSocketClient;

  beforeAll(async () => {
    c = connect(server.url, { reconnect: false, heartbeat: false });
    created.push(c);
    await withTimeout(c.opened, T, 'open');
  });

  const bytesArb = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.int16Array({ maxLength: 16 }),
    fc.float64Array({ maxLength: 4 }),
    fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
    fc.uint8Array({ maxLength: 64 }).map((a) => new DataView(a.buffer)),
    fc.uint8Array({ maxLength: 64 }).map((a) => a.buffer),
    fc.uint8Array({ minLength: 4, maxLength: 64 }).map((a) => a.subarray(1, a.length - 1)),
    fc.integer({ min: 64 * 1024, max: 300_000 }).map((n) => Buffer.alloc(n, 0xc3)),
  );
  const dataArb = fc.oneof(
    { weight: 3, arbitrary: anyText },
    { weight: 3, arbitrary: bytesArb },
    { weight: 1, arbitrary: fc.constant<unknown>(new SharedArrayBuffer(4)) },
    { weight: 2, arbitrary: junk },
  );
  const sendOptionsArb = fc.oneof(fc.constant(undefined), fc.record({ binary: maybeJunk(fc.boolean()) }, { requiredKeys: [] }), junk);

  function bytesOf(data: ArrayBuffer | ArrayBufferView): Buffer {
    if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return Buffer.from(data);
  }

  it('send(data, options) either sends exactly that message or throws a typed error', async () => {
    await check(
      fc.asyncProperty(dataArb, sendOptionsArb, async (data, options) => {
        let ok: boolean;
        try {
          ok = c.send(data as string, options as { binary?: boolean });
        } catch (e) {
          expectTyped(e, 'send() threw');
          return;
        }
        expect(typeof ok).toBe('boolean');
        const binaryOption = (options as { binary?: unknown } | undefined)?.binary;
        const expectBinary = typeof data === 'string' ? binaryOption === true : binaryOption !== false;
        const expectBytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : bytesOf(data as ArrayBufferView);
        const [got, isBinary] = await once<[string | Buffer, boolean]>(c, 'message', T);
        expect(isBinary).toBe(expectBinary);
        expect(Buffer.compare(Buffer.from(got as string), expectBytes)).toBe(0);
      }),
      250,
    );
    expect(c.state).toBe('open');
  }, 120_000);

  it('ping(data) either pings with exactly that payload or throws a typed error', async () => {
    await check(
      fc.asyncProperty(fc.oneof(anyText, bytesArb, junk, fc.constant(undefined)), async (data) => {
        try {
          c.ping(data as string);
        } catch (e) {
          expectTyped(e, 'ping() threw');
          return;
        }
        const expected = data === undefined ? Buffer.alloc(0) : typeof data === 'string' ? Buffer.from(data) : bytesOf(data as ArrayBufferView);
        const [payload] = await once<[Buffer]>(c, 'pong', T);
        expect(Buffer.compare(payload, expected)).toBe(0);
      }),
      200,
    );
    expect(c.state).toBe('open');
  }, 120_000);

  it('close(code, reason) either closes with exactly that code and reason or throws a typed error and stays open', async () => {
    const codeArb = fc.oneof(
      fc.constantFrom(1000, 1001, 1003, 1004, 1005, 1006, 1007, 1011, 1014, 1015, 2999, 3000, 4999, 5000, 0, -1, 65536),
      fc.integer({ min: 0, max: 6000 }),
      junk,
      fc.constant(undefined),
    );
    const reasonArb = fc.oneof(text, longText, fc.string({ maxLength: 123 }), bytesArb, junk, fc.constant(undefined));
    await check(
      fc.asyncProperty(codeArb, reasonArb, async (code, reason) => {
        const client = connect(server.url, { reconnect: false, heartbeat: false });
        created.push(client);
        await withTimeout(client.opened, T, 'open');
        const closeEvent = once<[number, string]>(client, 'close', T, { rejectOnError: false });
        let done: Promise<void>;
        try {
          done = client.close(code as number, reason as string);
        } catch (e) {
          expectTyped(e, 'close() threw');
          expect(client.state).toBe('open');
          await withTimeout(client.close(), T, 'plain close()');
          expect((await closeEvent)[0]).toBe(1000);
          return;
        }
        await withTimeout(done, T, 'close()');
        const [gotCode, gotReason] = await closeEvent;
        expect(gotCode).toBe(code ?? 1000);
        const reasonBytes = reason === undefined ? Buffer.alloc(0) : typeof reason === 'string' ? Buffer.from(reason) : bytesOf(reason as ArrayBufferView);
        expect(gotReason).toBe(reasonBytes.toString('utf8'));
        expect(Buffer.compare(Buffer.from(gotReason), reasonBytes)).toBe(0);
      }),
      120,
    );
  }, 180_000);
});

// What the properties found, pinned as plain examples.
describe('found by the properties', () => {
  // A server of its own: the one above has seen thousands of connections.
  let own: WsServer;
  beforeAll(async () => {
    own = await startWsServer({ echo: true });
  });
  afterAll(async () => {
    await own.close();
  });
  function thrown(fn: () => unknown): Error & { code?: string; url?: string } {
    try {
      fn();
    } catch (e) {
      return e as Error & { code?: string; url?: string };
    }
    throw new Error('did not throw');
  }

  it('a malformed %-escape in URL credentials is ERR_INVALID_URL naming the URL (was an untyped URIError)', () => {
    const url = `ws://%zz@127.0.0.1:${own.port}/`;
    expect(thrown(() => connect(url))).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_URL', url });
    expect(thrown(() => connect(own.url, { proxy: 'http://%zz:p@127.0.0.1:1' }))).toMatchObject({ code: 'ERR_INVALID_PROXY' });
  });

  // lws 4.3.5 leaked the half-made connection when the request head did not
  // fit its header table, and its timer later called into freed memory.
  it('a URL path and query of more than 8 KiB is ERR_INVALID_URL; 8 KiB opens', async () => {
    const tooLong = `${own.url}/${'a'.repeat(8192)}`;
    expect(thrown(() => connect(tooLong))).toMatchObject({ code: 'ERR_INVALID_URL', url: tooLong });
    expect(thrown(() => connect(own.url, { origin: 'o'.repeat(2049) }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    const conn = own.nextConnection(T);
    const c = connect(`${own.url}/${'a'.repeat(8191)}`, { reconnect: false });
    created.push(c);
    await withTimeout(c.opened, T, 'open');
    expect((await conn).request.url).toHaveLength(8192);
    await withTimeout(c.close(), T, 'close()');
  });

  it('eventLogSize, configTimeoutMs and ca entries of the wrong type or range throw at connect() (eventLogSize was read only when events arrived)', () => {
    expect(thrown(() => connect(own.url, { eventLogSize: Symbol('x') as unknown as number }))).toMatchObject({ code: 'ERR_INVALID_OPTION' });
    expect(thrown(() => connect(own.url, { eventLogSize: NaN }))).toMatchObject({ code: 'ERR_INVALID_OPTION' });
    expect(thrown(() => connect(own.url, { eventLogSize: -1 }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(thrown(() => connect(own.url, { configTimeoutMs: 2 ** 31 }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect(thrown(() => connect(own.url, { ca: {} as unknown as string }))).toMatchObject({ code: 'ERR_INVALID_OPTION' });
    expect(thrown(() => connect(own.url, { protocols: [10n as unknown as string] }))).toMatchObject({ code: 'ERR_INVALID_OPTION' });
  });

  // Abandoned replacements went on to complete their handshake with no
  // owner: the session said closed, the server kept a live socket (about
  // every other time with a rotation every millisecond).
  it('close() during a rotation leaves no connection open on the server', async () => {
    for (let i = 0; i < 20; i++) {
      const c = connect(own.url, { maxConnectionAgeMs: 1 });
      created.push(c);
      await withTimeout(c.opened, T, 'open');
      await withTimeout(c.close(), T, 'close()');
      await waitFor(() => own.wss.clients.size === 0, T, { label: `server connections to end (round ${i})` });
    }
  });

  it('send(), ping() and close() arguments of the wrong type throw typed errors and send nothing', async () => {
    const c = connect(own.url, { reconnect: false, heartbeat: false });
    created.push(c);
    await withTimeout(c.opened, T, 'open');
    expect(thrown(() => c.send('x', null as unknown as { binary?: boolean }))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => c.send('x', { binary: 1 as unknown as boolean }))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => c.ping({} as unknown as string))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => c.ping(5 as unknown as string))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => c.close(1000, 5 as unknown as string))).toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    expect(thrown(() => c.close(1000, Buffer.from([0xff])))).toMatchObject({ code: 'ERR_INVALID_CLOSE_REASON' });
    expect(thrown(() => c.close(Object.create(null) as number))).toMatchObject({ code: 'ERR_INVALID_CLOSE_CODE' });
    // Still open and in order: the next message is the first one sent.
    c.send('after');
    expect(await once<[string, boolean]>(c, 'message', T)).toEqual(['after', false]);
    const closed = once<[number, string]>(c, 'close', T);
    await withTimeout(c.close(1000, Buffer.from('ok')), T, 'close()');
    expect(await closed).toEqual([1000, 'ok']);
  });
});

// Below the façade: the addon's raw binding, called in a child process with
// arbitrary records and arguments (wrong types, NaN, huge and negative
// numbers, oversized strings), must never take the process down. The child
// prints each case before running it, so a crash names its input.
describe('the raw binding, without the façade', () => {
  afterAll(killAll);

  it('survives arbitrary connect records and calls, and ends every session it started', async () => {
    const runs = process.env.FC_RUNS ? Number(process.env.FC_RUNS) : 300;
    const child = runFixture('raw-binding-fuzz.cjs', [String(SEED), String(runs)]);
    const result = await child.waitExit(120_000);
    const lastCase = result.stderr.split('\n').filter((l) => l.startsWith('#')).pop() ?? '(none)';
    const context = `replay with FC_SEED=${SEED}; last case: ${lastCase.slice(0, 2000)}`;
    expect(exitOutcome(result), context).toEqual({ code: 0, signal: null, crashText: null });
    const alive = /ALIVE (\d+) (\d+)/.exec(result.stdout);
    expect(alive, context).not.toBeNull();
    // Most records start a session (the rest are not objects); each ended.
    expect(Number(alive?.[1])).toBeGreaterThan(runs / 2);
    expect(Number(alive?.[2])).toBeGreaterThanOrEqual(Number(alive?.[1]));
  }, 150_000);
});

describe('cleanup', () => {
  it('leaves every client closed and no connection on the server', async () => {
    for (const c of created) {
      if (c.state !== 'closed') await withTimeout(c.close(), T, 'close()');
    }
    expect(created.filter((c) => c.state !== 'closed').length).toBe(0);
    await waitFor(() => server.wss.clients.size === 0, T, { label: 'server connections to end' });
  });
});
