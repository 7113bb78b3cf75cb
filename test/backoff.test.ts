// The reconnect delay as plain code (native/session/backoff.cc, through the addon's
// test hook, with chosen random draws): the schedule, full and additive
// jitter, a server's Retry-After that can lengthen the delay but never
// shorten it, its cap, and the spread of a planned restart (1012). Also the
// classifier's reading of Retry-After values and of the planned-restart
// close codes, and the herd the default schedule makes of a mass drop.
import { describe, expect, it } from 'vitest';
import { addon as native } from '../dist/cjs/binding.js';
import { DEFAULT_BACKOFF_MS, DEFAULTS } from '../dist/cjs/options/defaults.js';
import { Prng } from './helpers/prng';

type DelayInput = {
  schedule?: number[];
  attempt?: number;
  jitter?: 'full' | 'add';
  jitterPercent?: number;
  retryAfterMs?: number;
  maxRetryAfterMs?: number;
  spread?: boolean;
  random?: number;
};

// The hook reads what it is given: the options' defaults fill the rest.
const { jitterPercent, maxRetryAfterMs } = DEFAULTS.reconnect;
const delay = (i: DelayInput) => native.testing.reconnectDelay({ schedule: [100, 200, 400], jitterPercent, maxRetryAfterMs, ...i });

describe('the schedule and its jitter', () => {
  it('full jitter: uniform in [0, schedule value], attempt by attempt, the last value repeating', () => {
    expect(delay({ attempt: 1, random: 0 }).delayMs).toBe(0);
    expect(delay({ attempt: 1, random: 0.5 }).delayMs).toBe(50);
    expect(delay({ attempt: 2, random: 0.5 }).delayMs).toBe(100);
    expect(delay({ attempt: 3, random: 0.25 }).delayMs).toBe(100);
    expect(delay({ attempt: 9, random: 0.25 })).toMatchObject({ delayMs: 100, scheduleMs: 400, floorMs: 0 });
    expect(delay({ attempt: 1, random: 0.999999 }).delayMs).toBeLessThan(100);
  });

  it("'add': the schedule value plus 0..jitterPercent % of it (lws's retry helper); 0 % is exact", () => {
    expect(delay({ jitter: 'add', jitterPercent: 30, attempt: 2, random: 0 }).delayMs).toBe(200);
    expect(delay({ jitter: 'add', jitterPercent: 30, attempt: 2, random: 0.5 }).delayMs).toBe(230);
    expect(delay({ jitter: 'add', jitterPercent: 0, attempt: 3, random: 0.9 })).toMatchObject({ delayMs: 400, floorMs: 400 });
  });

  it('a planned restart (spread) draws over the whole window even when the jitter is additive', () => {
    expect(delay({ jitter: 'add', jitterPercent: 0, attempt: 1, spread: true, random: 0.25 }).delayMs).toBe(25);
    expect(delay({ jitter: 'full', attempt: 2, spread: true, random: 0.75 }).delayMs).toBe(150);
  });
});

describe("a server's Retry-After", () => {
  it('0 or a date in the past leaves the delay the schedule gives: it never shortens it', () => {
    for (const random of [0, 0.3, 0.9]) {
      expect(delay({ attempt: 3, random, retryAfterMs: 0 }).delayMs).toBe(delay({ attempt: 3, random }).delayMs);
      expect(delay({ jitter: 'add', attempt: 2, random, retryAfterMs: 0 }).delayMs).toBe(delay({ jitter: 'add', attempt: 2, random }).delayMs);
    }
    expect(delay({ jitter: 'add', jitterPercent: 0, attempt: 3, retryAfterMs: 50 })).toMatchObject({ delayMs: 400, retryAfterWon: false });
  });

  it('a longer one wins, with the schedule\'s jitter on top (clients told the same value still come back spread)', () => {
    expect(delay({ attempt: 1, random: 0.5, retryAfterMs: 5000 })).toMatchObject({ delayMs: 5050, floorMs: 5000, retryAfterWon: true });
    expect(delay({ jitter: 'add', jitterPercent: 10, attempt: 2, random: 0.5, retryAfterMs: 5000 }).delayMs).toBe(5010);
    expect(delay({ jitter: 'add', jitterPercent: 0, attempt: 2, retryAfterMs: 5000 }).delayMs).toBe(5000);
  });

  it('is capped at maxRetryAfterMs', () => {
    expect(delay({ jitter: 'add', jitterPercent: 0, retryAfterMs: 999_999_000, maxRetryAfterMs: 3_600_000 }).delayMs).toBe(3_600_000);
    expect(delay({ random: 0.5, retryAfterMs: 999_999_000, maxRetryAfterMs: 2000 }).delayMs).toBe(2050);
    // A cap below the schedule's floor: the schedule stands.
    expect(delay({ jitter: 'add', jitterPercent: 0, attempt: 3, retryAfterMs: 10_000, maxRetryAfterMs: 100 }).delayMs).toBe(400);
  });

  it('whatever the draw and the values: never shorter than the schedule with that draw, never shorter than the capped Retry-After', () => {
    const rng = new Prng(20240611);
    for (let i = 0; i < 2000; i++) {
      const schedule = Array.from({ length: 1 + rng.int(5) }, () => rng.int(100_000));
      const input: DelayInput = {
        schedule,
        attempt: 1 + rng.int(10),
        jitter: rng.chance(0.5) ? 'full' : 'add',
        jitterPercent: rng.int(101),
        random: rng.float(),
        maxRetryAfterMs: rng.int(4_000_000),
      };
      const ra = rng.chance(0.2) ? 0 : rng.int(10_000_000);
      const plain = delay(input).delayMs;
      const withRa = delay({ ...input, retryAfterMs: ra }).delayMs;
      expect(withRa).toBeGreaterThanOrEqual(plain);
      expect(withRa).toBeGreaterThanOrEqual(Math.min(ra, input.maxRetryAfterMs!));
    }
  });
});

describe('the classifier on Retry-After values and planned restarts', () => {
  const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
  const http503 = (retryAfter: string) => native.testing.classify({ cause: 'http', status: 503, retryAfter, nowMs: NOW });
  const CENTURY = 1000 * 3600 * 24 * 365 * 100;

  it.each([
    ['0', 0],
    [' 5 ', 5000],
    ['999999', 999_999_000],
    ['99999999999999999999', CENTURY],
    ['Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['Fri, 31 Dec 9999 23:59:59 GMT', CENTURY],
  ])('Retry-After %j asks for %i ms', (value, ms) => {
    expect(http503(value)).toMatchObject({ action: 'retry-after', delayMs: ms });
  });

  it.each(['', '-1', '1.5', '5s', 'soon', '0x10', 'Fri, 31 Dec 9999', '\u00a05'])('a malformed Retry-After (%j) is ignored: the schedule applies', (value) => {
    expect(http503(value)).toMatchObject({ action: 'retry', delayMs: -1 });
  });

  it('1012 (service restart) reconnects spread; 1013 (try again later) keeps climbing; 1001 (going away) backs off as usual', () => {
    expect(native.testing.classify({ cause: 'close', code: 1012 })).toMatchObject({ action: 'retry', spread: true, keepClimbing: false });
    expect(native.testing.classify({ cause: 'close', code: 1013 })).toMatchObject({ action: 'retry', spread: false, keepClimbing: true });
    expect(native.testing.classify({ cause: 'close', code: 1001 })).toMatchObject({ action: 'retry', spread: false, keepClimbing: false });
  });
});

describe('the default schedule against a mass drop', () => {
  it('spreads the first reconnects: median at most 1 s, no 100 ms window with more than 10 % of them', () => {
    // 10,000 clients dropped at the same instant, each drawing its first delay.
    const rng = new Prng(7);
    const n = 10_000;
    const delays = Array.from({ length: n }, () => delay({ schedule: [...DEFAULT_BACKOFF_MS], attempt: 1, random: rng.float() }).delayMs).sort(
      (a, b) => a - b,
    );
    expect(delays[n / 2]!).toBeLessThanOrEqual(1000);
    let busiest = 0;
    for (let i = 0, j = 0; i < n; i++) {
      while (delays[i]! - delays[j]! >= 100) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    expect(busiest / n).toBeLessThanOrEqual(0.1);
  });
});
