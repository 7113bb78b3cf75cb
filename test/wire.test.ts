// The wire contract: every list and number of lib/wire.ts equals its native
// counterpart (native/wire.h, native/event_batch.h), read from the built
// addon's constants(). An enum changed on one side only fails here.
import { describe, expect, it } from 'vitest';
import { addon as native } from '../dist/cjs/binding.js';
import * as wire from '../dist/cjs/wire.js';

const c = native.constants() as Record<string, unknown>;

/** The members of a numeric TS enum, as name: number. */
function members(e: Record<string, string | number>): Record<string, number> {
  return Object.fromEntries(Object.entries(e).filter((kv): kv is [string, number] => typeof kv[1] === 'number'));
}

describe('the wire contract, lib/wire.ts against the addon', () => {
  it('event types', () => {
    expect(members(wire.EventType)).toEqual(c.eventTypes);
  });

  it('the event index: stride and columns', () => {
    expect(wire.INDEX_STRIDE).toBe(c.indexStride);
    expect({ ...wire.IndexColumn }).toEqual(c.indexColumns);
    expect(Object.keys(wire.IndexColumn)).toHaveLength(wire.INDEX_STRIDE);
  });

  it.each([
    ['sessionStates', wire.SESSION_STATES],
    ['causes', wire.CAUSES],
    ['actions', wire.ACTIONS],
    ['dropReasons', wire.DROP_REASONS],
    ['overflow', wire.OVERFLOW_POLICIES],
    ['jitter', wire.JITTER_MODES],
  ])('the list %s, in wire order', (name, list) => {
    expect([...list]).toEqual(c[name]);
  });

  it('the bits of a drop event', () => {
    expect({ ...wire.DropBits }).toEqual(c.dropBits);
  });

  it('decodes a drop as the native side packs it', () => {
    const { binary, reasonShift, priority } = wire.DropBits;
    for (const [n, reason] of wire.DROP_REASONS.entries()) {
      expect(wire.decodeDrop((n << reasonShift) | binary)).toEqual({ isBinary: true, reason, priority: false });
      expect(wire.decodeDrop((n << reasonShift) | priority)).toEqual({ isBinary: false, reason, priority: true });
    }
  });
});
