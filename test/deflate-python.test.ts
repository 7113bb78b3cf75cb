/**
 * permessage-deflate against a second, independent implementation: Python's
 * websockets (Debian's python3-websockets, installed by scripts/setup.sh),
 * started by the test in a child process (helpers/py-ws-server.py). The
 * stream from issue 15 that arrived split and then stalled, then fast-check
 * round trips as in deflate.test.ts: every message compared by type, length
 * and SHA-256, in order.
 *
 * The server's window is 9 to 15 bits here: websockets deflates with zlib,
 * which refuses a raw 8-bit window (deflate.test.ts covers 8 against ws).
 * DEFLATE_SEED=<n> replays another seed, DEFLATE_RUNS=<n> runs longer.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { connectOnce, type ConnectOptions, type WebSocketClient, type WebSocketError } from './lib';
import { killAll } from './helpers/child';
import { cutOffsets, materialize, paramsArb, SequenceTally, sequenceArb, type DeflateParams, type MessageSpec } from './helpers/deflate-messages';
import { digest, PyWsServer, type PyEvent } from './helpers/py-ws-server';
import { AsyncQueue } from './helpers/queue';
import { once, withTimeout } from './helpers/wait';

const T = 20_000;
const SEED = process.env.DEFLATE_SEED ? Number(process.env.DEFLATE_SEED) : 0xdef1a7e;
const RUNS = process.env.DEFLATE_RUNS ? Number(process.env.DEFLATE_RUNS) : undefined;

const clients: WebSocketClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await killAll();
});

interface Received {
  data: Buffer | string;
  isBinary: boolean;
}

interface Session {
  py: PyWsServer;
  client: WebSocketClient;
  received: AsyncQueue<Received>;
  errors: WebSocketError[];
  extensions: string;
}

async function open(params: DeflateParams | null, options: ConnectOptions = {}): Promise<Session> {
  const py = await PyWsServer.start(
    params
      ? {
          server_max_window_bits: params.serverMaxWindowBits,
          client_max_window_bits: params.clientMaxWindowBits,
          server_no_context_takeover: params.serverNoContextTakeover,
          client_no_context_takeover: params.clientNoContextTakeover,
        }
      : {},
  );
  const client = connectOnce(py.url, options);
  clients.push(client);
  const received = new AsyncQueue<Received>('message from python server', T);
  const errors: WebSocketError[] = [];
  client.on('message', (data, isBinary) => received.push({ data, isBinary }));
  client.on('error', (e) => errors.push(e));
  await withTimeout(client.opened, T, 'opened');
  const open = await nextEvent(py, 'open');
  expect(client.extensions).toContain('permessage-deflate');
  return { py, client, received, errors, extensions: open.extensions ?? '' };
}

async function nextEvent(py: PyWsServer, kind: PyEvent['event']): Promise<PyEvent> {
  const e = await py.events.next(T);
  expect(e.event, JSON.stringify(e)).toBe(kind);
  return e;
}

async function expectMessage(s: Session, want: Buffer, binary: boolean, what: string): Promise<void> {
  const m = await s.received.next(T);
  const got = typeof m.data === 'string' ? Buffer.from(m.data) : m.data;
  expect({ what, binary: m.isBinary, length: got.length }).toEqual({ what, binary, length: want.length });
  expect(digest(got), what).toBe(digest(want));
}

/** The server's next message must be `want` (type, length, SHA-256). */
async function expectAtServer(s: Session, want: Buffer, binary: boolean, what: string): Promise<void> {
  const e = await s.py.events.next(T);
  expect({ what, event: e.event, binary: e.binary, length: e.length }).toEqual({ what, event: 'message', binary, length: want.length });
  expect(e.sha256, what).toBe(digest(want));
}

async function finish(s: Session): Promise<void> {
  const closed = once<[number, string]>(s.client, 'close', T, { rejectOnError: false });
  s.client.close(1000);
  expect((await closed)[0]).toBe(1000);
  expect((await nextEvent(s.py, 'close')).code).toBe(1000);
  expect(s.errors.map((e) => `${e.code}: ${e.message}`)).toEqual([]);
  await s.py.stop();
}

describe('permessage-deflate against Python websockets (issue 15)', () => {
  // The nine sizes (its ninth arrived as 59,397 + 55 bytes, then
  // nothing more), three times over: with websockets' defaults (12-bit
  // windows, memLevel 5) and this record, the old lws lost output in the
  // eighteenth.
  it('a feed of the issue\'s nine message sizes, three times, then END: every message whole, END arrives', async () => {
    const s = await open(null);
    const record = JSON.stringify({ t: 1712345678, sym: 'BTCUSD', px: 65123.5, q: 0.25 }).padEnd(50, ' ');
    const nine = [134_026, 188_075, 277_993, 15_307, 244_220, 130_675, 27_286, 82_335, 59_452];
    const sizes = Array.from({ length: 27 }, (_, i) => (nine[i % 9] as number) + Math.floor(i / 9) * 37);
    const sent = sizes.map((n) => Buffer.from(record.repeat(Math.ceil(n / 50)).slice(0, n)));
    for (const m of sent) s.py.send(m, false);
    s.py.send(Buffer.from('END'), false);
    for (let i = 0; i < sent.length; i++) await expectMessage(s, sent[i] as Buffer, false, `message ${i} of ${sizes[i]} B`);
    await expectMessage(s, Buffer.from('END'), false, 'END');
    await finish(s);
  });
});

async function check<Ts extends [unknown, ...unknown[]]>(property: fc.IAsyncProperty<Ts>, numRuns: number): Promise<number> {
  const runs = RUNS ?? numRuns;
  try {
    await fc.assert(property, { seed: SEED, numRuns: runs, endOnFailure: process.env.FC_NO_SHRINK === '1' });
  } catch (error) {
    const e = error as Error;
    e.message = `replay with DEFLATE_SEED=${SEED}\n${e.message}`;
    throw e;
  }
  return runs;
}

describe('round trips through permessage-deflate against Python websockets (fast-check)', () => {
  it('server to client: every message arrives with its type and bytes, in order', async () => {
    const tally = new SequenceTally('python websockets, server to client', SEED);
    const runs = await check(
      fc.asyncProperty(paramsArb(9), sequenceArb(40), async (params, specs: MessageSpec[]) => {
        const s = await open(params);
        try {
          expect(s.extensions).toContain(`server_max_window_bits=${params.serverMaxWindowBits}`);
          expect(s.extensions).toContain(`client_max_window_bits=${params.clientMaxWindowBits}`);
          const sent = specs.map(materialize);
          specs.forEach((m, i) => s.py.send(sent[i] as Buffer, m.binary, cutOffsets(m)));
          await tally.expectEach(specs, sent, JSON.stringify(params), (data, binary, label) => expectMessage(s, data, binary, label));
          await finish(s);
        } finally {
          s.client.terminate();
          await s.py.stop();
        }
      }),
      40,
    );
    tally.report(runs);
  }, 180_000);

  it('client to server: the server gets every message with its type and bytes, in order', async () => {
    const tally = new SequenceTally('python websockets, client to server', SEED);
    const fragmentSizeArb = fc.constantFrom(64 * 1024, 64 * 1024, 16 * 1024, 4096, 1000);
    const runs = await check(
      fc.asyncProperty(paramsArb(9), fragmentSizeArb, sequenceArb(40), async (params, fragmentSize, specs: MessageSpec[]) => {
        const s = await open(params, { fragmentSize });
        try {
          const sent = specs.map(materialize);
          specs.forEach((m, i) => {
            const data = sent[i] as Buffer;
            s.client.send(m.binary ? data : data.toString('utf8'), { binary: m.binary });
          });
          await tally.expectEach(specs, sent, `${JSON.stringify(params)}, fragmentSize ${fragmentSize}`, (data, binary, label) => expectAtServer(s, data, binary, label));
          await finish(s);
        } finally {
          s.client.terminate();
          await s.py.stop();
        }
      }),
      40,
    );
    tally.report(runs);
  }, 180_000);

  it("'hello', '', 'x': the server gets all three", async () => {
    const s = await open(null);
    for (const m of ['hello', '', 'x']) s.client.send(m);
    for (const m of ['hello', '', 'x']) await expectAtServer(s, Buffer.from(m), false, JSON.stringify(m));
    await finish(s);
  });
});
