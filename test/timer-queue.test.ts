/**
 * The service thread's timer queue (native/thread/timer.cc): a binary heap
 * with cancel and reschedule in place of lws's sorted list. Checked against
 * a model: after any sequence of schedules and cancels, the timers still
 * scheduled fire once each, earliest first, equal times in the order they
 * were (last) scheduled.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addon as native } from '../dist/cjs/binding.js';

function model(timers: number, ops: Array<[number, number, number]>): number[] {
  const live = new Map<number, { due: number; seq: number }>();
  let seq = 0;
  for (const [kind, t, offset] of ops) {
    if (t < 0 || t >= timers) continue;
    if (kind === 0) live.set(t, { due: offset, seq: seq++ });
    else live.delete(t);
  }
  return [...live.entries()].sort((a, b) => a[1].due - b[1].due || a[1].seq - b[1].seq).map(([t]) => t);
}

describe('timer queue', () => {
  it('fires what is scheduled, earliest first; cancelled timers never', () => {
    expect(native.testing.timerQueue(3, [0, 0, 300, 0, 1, 100, 0, 2, 200])).toEqual([1, 2, 0]);
    expect(native.testing.timerQueue(3, [0, 0, 300, 0, 1, 100, 0, 2, 200, 1, 1, 0])).toEqual([2, 0]);
    // Rescheduling moves a timer, earlier or later.
    expect(native.testing.timerQueue(3, [0, 0, 300, 0, 1, 100, 0, 2, 200, 0, 0, 50, 0, 1, 900])).toEqual([0, 2, 1]);
    // Equal times: the order of scheduling.
    expect(native.testing.timerQueue(3, [0, 2, 5, 0, 0, 5, 0, 1, 5])).toEqual([2, 0, 1]);
    expect(native.testing.timerQueue(2, [1, 0, 0, 1, 1, 0])).toEqual([]);
  });

  it('matches the model for any sequence of schedules, reschedules and cancels', () => {
    const op = fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 39 }), fc.integer({ min: 0, max: 50 }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        expect(native.testing.timerQueue(40, ops.flat())).toEqual(model(40, ops));
      }),
      { numRuns: 500, seed: 11 },
    );
  });

  it('holds 100,000 timers', () => {
    const ops: number[] = [];
    for (let i = 0; i < 100_000; i++) ops.push(0, i, (i * 7919) % 100_003);
    for (let i = 0; i < 100_000; i += 2) ops.push(1, i, 0);
    const fired = native.testing.timerQueue(100_000, ops);
    expect(fired.length).toBe(50_000);
    const due = fired.map((i) => (i * 7919) % 100_003);
    expect(due.every((d, k) => k === 0 || (due[k - 1] as number) <= d)).toBe(true);
  });
});
