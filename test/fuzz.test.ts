/**
 * Fuzzing against hostile and broken servers. A raw server (fuzz-server.ts)
 * answers each connection with one generated case (fuzz-cases.ts): a valid
 * or broken handshake (truncated, header floods, enormous lines, absurd
 * status lines, refusals, garbage), then valid, mutated and random frames
 * (bad and huge lengths, the 64-bit top bit, truncated headers, reserved
 * opcodes and bits, masking, bad closes, garbage after Close), then FIN, RST
 * or silence. A third of the cases put a chain of redirects first
 * (fuzz-redirects.ts: valid, hostile and malformed Locations, same and other
 * origin, over two loopback addresses; followRedirects is on for every
 * case). The client runs in a child process (fixtures/fuzz-client.cjs),
 * so a crash is a signal exit reported with the seed and the iterations in
 * flight.
 *
 * Every connection must end with a 'close' event carrying a valid code
 * within CASE_DEADLINE_MS, every 'error' must carry a code and the URL (of
 * the iteration, or a ws: or wss: URL a redirect went to),
 * all-valid cases must deliver exactly their messages and close 1000, and
 * the child's memory after GC must grow by less than NATIVE_BOUND outside
 * the V8 heap and HEAP_BOUND inside it, from the end of a warm-up to the end
 * of the run.
 *
 * CI runs a fixed seed. Longer runs by hand (README, "Fuzzing"):
 *   FUZZ_SEED=n FUZZ_ITERATIONS=n FUZZ_FROM=n FUZZ_CONCURRENCY=n npx vitest run test/fuzz.test.ts
 */
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { exitOutcome, killAll, runFixture, type ChildRun } from './helpers/child';
import { fuzzCase, type FuzzCase } from './helpers/fuzz-cases';
import { startFuzzServer, type FuzzServer } from './helpers/fuzz-server';

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${raw}`);
  return n;
}

const SEED = envInt('FUZZ_SEED', 0x5eed_2026);
const ITERATIONS = envInt('FUZZ_ITERATIONS', 1000);
const FROM = envInt('FUZZ_FROM', 0);
const CONCURRENCY = Math.max(1, envInt('FUZZ_CONCURRENCY', 16));
/** A connection must have ended this long after it was started. */
const CASE_DEADLINE_MS = 20_000;
/**
 * Growth allowed from the end of the warm-up to the end of the run, after
 * GC: of RSS outside V8's heap (native memory: lws, OpenSSL, zlib, our
 * buffers, the allocator's retention), and of the V8 heap in use. V8's
 * reserved heap is left out: it grows by V8's own policy (8 -> 37 MiB over
 * 100,000 iterations with the heap in use flat at 4 MiB).
 */
const NATIVE_BOUND = 64 * 1024 * 1024;
const HEAP_BOUND = 16 * 1024 * 1024;
const WARMUP = Math.min(100, Math.floor(ITERATIONS / 4));
/** Memory is also sampled (for the summary only) every this many iterations. */
const SAMPLE_EVERY = Math.max(1000, Math.ceil(ITERATIONS / 10));

interface EndReport {
  i: number;
  code: number;
  reason: string;
  opened: boolean;
  messages: number;
  digest: string;
  errors: Array<{ code: unknown; url: unknown; message: string }>;
  ms: number;
}

interface Memory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

function replayHint(iteration: number): string {
  return `replay: FUZZ_SEED=${SEED} FUZZ_FROM=${iteration} FUZZ_ITERATIONS=1 npx vitest run test/fuzz.test.ts`;
}

function describeCase(c: FuzzCase): string {
  return `seed ${SEED} iteration ${c.iteration} (${c.kind}): ${c.steps.join('; ')}; client options ${JSON.stringify(c.options)}\n${replayHint(c.iteration)}`;
}

/** What is wrong with how one connection ended, or undefined. */
function checkEnd(c: FuzzCase, url: string, r: EndReport): string | undefined {
  const validCode = Number.isInteger(r.code) && ((r.code >= 1000 && r.code <= 1015) || (r.code >= 3000 && r.code <= 4999));
  if (!validCode) return `close code ${r.code} is not a valid close code`;
  for (const e of r.errors) {
    if (typeof e.code !== 'string' || !/^[A-Z][A-Z0-9_]+$/.test(e.code)) return `error without a code: ${JSON.stringify(e)}`;
    // A redirect (a chain's, or a refusal's Location) leads to other URLs.
    const hopUrl = c.options.followRedirects && typeof e.url === 'string' && /^wss?:\/\//.test(e.url);
    if (e.url !== url && !hopUrl) return `error ${e.code} names ${String(e.url)}, not ${url}`;
    // Compressed data that does not inflate fails the connection with 1007.
    if (e.code === 'ERR_INFLATE' && r.code !== 1007) return `ERR_INFLATE with close code ${r.code}, not 1007`;
  }
  const x = c.expected;
  if (x) {
    const got = { code: r.code, reason: r.reason, messages: r.messages, digest: r.digest, errors: r.errors.map((e) => e.code) };
    const want = { code: x.code, reason: x.reason, messages: x.messages, digest: x.digest, errors: [] };
    if (JSON.stringify(got) !== JSON.stringify(want)) return `valid case: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`;
  }
  return undefined;
}

let server: FuzzServer | undefined;
afterEach(async () => {
  await killAll();
  await server?.close();
  server = undefined;
});

describe('fuzzing the client with hostile servers', () => {
  it(
    `survives ${ITERATIONS} generated servers (seed ${SEED}, from iteration ${FROM}), each connection ending in a close with a code, memory bounded`,
    async () => {
      const cases = new Map<number, FuzzCase>();
      server = await startFuzzServer((i) => cases.get(i));
      const fuzz = server;
      const child: ChildRun = runFixture('fuzz-client.cjs', [], { nodeArgs: ['--expose-gc'] });
      await child.waitLine('ready', 20_000);

      const started = performance.now();
      const end = FROM + ITERATIONS;
      const inFlight = new Map<number, number>(); // iteration -> start time
      const codes = new Map<string, { count: number; example: number }>(); // outcome -> count, first iteration
      const memory: Memory[] = [];
      const samples: Array<{ done: number; rss: number }> = [];
      // Cases with valid compressed messages, and with broken ones.
      const compressed = { valid: 0, corrupt: 0 };
      let next = FROM;
      let done = 0;
      let failure: string | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      let running = true;

      const finished = new Promise<void>((resolve) => {
        const fail = (message: string): void => {
          failure ??= message;
          resolve();
        };
        let asked = 0; // memory reports asked for
        const askMemory = (): void => {
          asked++;
          child.send('memory');
        };
        const dispatch = (): void => {
          if (failure) return;
          // The warm-up's figure is taken with nothing in flight.
          if (memory.length === 0 && done === WARMUP && inFlight.size === 0) {
            if (asked === 0) askMemory();
            return;
          }
          const limit = memory.length === 0 ? FROM + WARMUP : end;
          while (inFlight.size < CONCURRENCY && next < limit) {
            const i = next++;
            const c = fuzzCase(SEED, i);
            if (c.steps.some((step) => step.includes(', compressed'))) compressed.valid++;
            if (c.steps.some((step) => step.startsWith('compressed '))) compressed.corrupt++;
            cases.set(i, c);
            inFlight.set(i, performance.now());
            child.send(JSON.stringify({ i, url: fuzz.url(i), options: c.options }));
          }
          if (memory.length === 1 && done === ITERATIONS && asked === 1) askMemory();
        };

        createInterface({ input: child.proc.stdout! }).on('line', (line) => {
          if (line.startsWith('sample ')) {
            samples.push({ done, rss: (JSON.parse(line.slice(7)) as Memory).rss });
            return;
          }
          if (line.startsWith('memory ')) {
            memory.push(JSON.parse(line.slice(7)) as Memory);
            if (memory.length === 2) resolve();
            else dispatch();
            return;
          }
          if (!line.startsWith('end ')) return;
          const r = JSON.parse(line.slice(4)) as EndReport;
          const c = cases.get(r.i);
          if (!c || !inFlight.delete(r.i)) return fail(`unexpected report ${line}`);
          const problem = checkEnd(c, fuzz.url(r.i), r);
          if (problem) return fail(`${problem}\n${describeCase(c)}`);
          cases.delete(r.i);
          done++;
          const key = `${r.code} ${r.errors.map((e) => e.code).join('+') || '-'}`;
          const seen = codes.get(key);
          codes.set(key, { count: (seen?.count ?? 0) + 1, example: seen?.example ?? r.i });
          if (done % SAMPLE_EVERY === 0 && done < ITERATIONS) child.send('sample');
          dispatch();
        });

        void child.exited.then((result) => {
          if (!running) return; // the exit asked for at the end
          const { code, signal, crashText } = exitOutcome(result);
          const flying = [...inFlight.keys()];
          const described = flying.map((i) => {
            const c = cases.get(i);
            return c ? describeCase(c) : `iteration ${i}`;
          });
          fail(
            `fuzz client exited (code ${code}, signal ${signal}${crashText ? `, "${crashText}"` : ''}) ` +
              `with iterations ${flying.join(', ')} in flight\n${described.join('\n')}\n` +
              `--- stderr (tail) ---\n${result.stderr.slice(-4000)}`,
          );
        });

        // Bounded: every connection has a deadline; the check is a timer, not a wait.
        watchdog = setInterval(() => {
          const now = performance.now();
          for (const [i, t] of inFlight) {
            if (now - t > CASE_DEADLINE_MS) {
              const c = cases.get(i);
              fail(`connection did not end within ${CASE_DEADLINE_MS} ms\n${c ? describeCase(c) : `iteration ${i}`}`);
            }
          }
        }, 250);
        dispatch();
      });
      await finished;
      clearInterval(watchdog);
      running = false;
      expect(failure, failure).toBeUndefined();

      child.send('exit');
      const result = await child.waitExit(CASE_DEADLINE_MS);
      expect(exitOutcome(result)).toEqual({ code: 0, signal: null, crashText: null });
      expect(fuzz.all.flatMap((s) => s.errors.map((e) => e.message)), 'frames the client wrote that the server could not decode').toEqual([]);

      const [base, last] = memory as [Memory, Memory];
      const nativeGrowth = last.rss - last.heapTotal - (base.rss - base.heapTotal);
      const heapGrowth = last.heapUsed - base.heapUsed;
      const seconds = (performance.now() - started) / 1000;
      const summary = [...codes]
        .sort((a, b) => b[1].count - a[1].count)
        .map(([k, { count, example }]) => `${count}× ${k} (#${example})`)
        .join(', ');
      const mib = (key: keyof Memory): string => `${(base[key] / 2 ** 20).toFixed(1)} -> ${(last[key] / 2 ** 20).toFixed(1)}`;
      console.log(
        `fuzz: seed ${SEED}, iterations ${FROM}..${end - 1} (${ITERATIONS}), ${seconds.toFixed(1)} s; MiB after GC: ` +
          `RSS ${mib('rss')}, V8 heap used ${mib('heapUsed')} of ${mib('heapTotal')}, external ${mib('external')}\n` +
          `RSS (MiB) along the run, ${CONCURRENCY} connections in flight: ${samples.map((x) => `${x.done}: ${(x.rss / 2 ** 20).toFixed(1)}`).join(', ') || '-'}\n` +
          `cases with compressed messages: ${compressed.valid} with valid ones, ${compressed.corrupt} with broken DEFLATE data\n` +
          `outcomes (close code, error codes, first iteration): ${summary}`,
      );
      expect(nativeGrowth, `RSS outside the V8 heap grew by ${(nativeGrowth / 2 ** 20).toFixed(1)} MiB (seed ${SEED})`).toBeLessThan(NATIVE_BOUND);
      expect(heapGrowth, `the V8 heap in use grew by ${(heapGrowth / 2 ** 20).toFixed(1)} MiB (seed ${SEED})`).toBeLessThan(HEAP_BOUND);
    },
    Math.max(120_000, ITERATIONS * 250),
  );
});
