/**
 * Soak, short: bench/soak.js (the script `npm run soak` runs with 10,000 +
 * 10,000 cycles) in a child process with 500 connect/close cycles and 500
 * forced reconnects (the server destroys each connection; backoff [1] ms),
 * over ws:// and over wss:// (a throwaway CA; a TLS session per connection).
 * Figures are not asserted; resource bounds are:
 * - open file descriptors and threads return to the warm baseline once the
 *   sessions are closed (the script polls for that with a bounded deadline)
 *   and never pile up while cycling;
 * - RSS grows by less than RSS_GROWTH_BOUND from the warm baseline (after
 *   100 cycles of each kind), measured after a full GC;
 * - every cycle happened (the server's counts) and none failed.
 */
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ChildRun, exitOutcome, killAll, ROOT } from './helpers/child';

/** Stated in README ("Soak"): generous, far above what 1,000 cycles cost (a few MiB). */
const RSS_GROWTH_BOUND = 32 * 1024 * 1024;
const CYCLES = 500;
const WARMUP = 100;
/** fds a cycle may hold beyond the baseline while it runs: its socket (plus one closing). */
const FDS_IN_FLIGHT = 2;

interface Sample {
  label: string;
  rss: number;
  fds: number;
  threads: number;
}
interface Settle {
  settled: boolean;
  ms: number;
  fds: number;
  threads: number;
}
interface Report {
  samples: Sample[];
  phases: {
    connectClose: { cycles: number; settle: Settle };
    reconnect: { cycles: number; opens: number; disconnects: number; settle: Settle };
  };
  growth: { rss: number; fds: number; threads: number };
  server: { accepted: number; open: number; killed: number };
  failures: string[];
}

afterEach(() => killAll());

it.each([
  ['ws', []],
  ['wss', ['--tls']],
])(`%s: ${CYCLES} connect/close cycles and ${CYCLES} forced reconnects: fds and threads back at baseline, RSS growth under 32 MiB`, async (_scheme, flags) => {
  const child = new ChildRun(
    process.execPath,
    [
      '--expose-gc',
      join(ROOT, 'bench', 'soak.js'),
      ...flags,
      '--connect',
      String(CYCLES),
      '--reconnect',
      String(CYCLES),
      '--warmup',
      String(WARMUP),
      '--json',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const result = await child.waitExit(50_000);
  const context = `stderr:\n${result.stderr}\nstdout:\n${result.stdout}`;
  expect(exitOutcome(result), context).toEqual({ code: 0, signal: null, crashText: null });
  const line = child.outputLines.find((l) => l.startsWith('{'));
  expect(line, context).toBeDefined();
  const report = JSON.parse(line as string) as Report;

  expect(report.failures).toEqual([]);
  const { connectClose, reconnect } = report.phases;
  expect(reconnect.opens).toBe(CYCLES + 1);
  expect(reconnect.disconnects).toBe(CYCLES);
  // Warm-up and measured cycles: one connection per connect/close cycle, one
  // per open of the reconnecting session; all closed, one kill per reconnect.
  expect(report.server).toEqual({
    accepted: 2 * WARMUP + 1 + CYCLES + (CYCLES + 1),
    open: 0,
    killed: WARMUP + CYCLES,
  });

  // Back at baseline after each phase (polled by the script, bounded).
  expect(connectClose.settle.settled, JSON.stringify(connectClose.settle)).toBe(true);
  expect(reconnect.settle.settled, JSON.stringify(reconnect.settle)).toBe(true);
  expect(report.growth.fds).toBeLessThanOrEqual(0);
  expect(report.growth.threads).toBeLessThanOrEqual(0);

  // Nothing piles up while cycling either.
  const baseline = report.samples.find((s) => s.label.startsWith('baseline')) as Sample;
  for (const s of report.samples.filter((x) => x !== baseline && x.label !== 'start')) {
    expect(s.fds, s.label).toBeLessThanOrEqual(baseline.fds + FDS_IN_FLIGHT);
    expect(s.threads, s.label).toBeLessThanOrEqual(baseline.threads);
  }

  expect(report.growth.rss).toBeLessThan(RSS_GROWTH_BOUND);
}, 60_000);
