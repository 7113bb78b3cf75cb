/**
 * Message sequences for the permessage-deflate round trips (deflate.test.ts,
 * deflate-python.test.ts): fast-check generates small specs (type, size,
 * compressibility, seed, where the sender cuts it into frames) and each spec
 * becomes its bytes here, so a 4 MiB message costs fast-check nothing to
 * generate or shrink.
 */
import fc from 'fast-check';
import { Prng } from './prng';

export const MiB = 1024 * 1024;
/** Bytes per generated sequence at most: one sequence is one connection. */
export const SEQUENCE_BUDGET = 8 * MiB;

/**
 * random: incompressible (deflate makes it a little larger);
 * feed: one fixed 50-byte JSON record over and over, the same in every
 *   message (the feed of issue 15: with context takeover a message is a few
 *   matches into the ones before, and often ends inside one, where lws lost
 *   output);
 * records: JSON lines with counters;
 * runs: long runs of one byte (4 MiB inflates from a few KiB);
 * repeat: one short random unit over and over (matches as long as DEFLATE
 *   allows);
 * mixed: random and record stretches of 1-4 KiB in turn.
 */
export type Style = 'random' | 'records' | 'runs' | 'repeat' | 'feed' | 'mixed';

const FEED_RECORD = JSON.stringify({ t: 1712345678, sym: 'BTCUSD', px: 65123.5, q: 0.25 }).padEnd(50, ' ');

export interface MessageSpec {
  binary: boolean;
  size: number;
  style: Style;
  seed: number;
  /** Where the sender cuts the message into frames, as fractions of its size. */
  cuts: number[];
}

export interface DeflateParams {
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
}

// Sizes around the inflater's 1 KiB buffer and the client's 2 KiB receive
// buffer, the frame length encodings, and 4 MiB.
const EDGES = [0, 1, 2, 125, 126, 1023, 1024, 1025, 2047, 2048, 2049, 65535, 65536, 65537, 4 * MiB - 1, 4 * MiB];

export const sizeArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 16, arbitrary: fc.integer({ min: 0, max: 70_000 }) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 600_000 }) },
  { weight: 2, arbitrary: fc.constantFrom(...EDGES) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 4 * MiB }) },
);

const styleArb: fc.Arbitrary<Style> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Style>('feed') },
  { weight: 2, arbitrary: fc.constant<Style>('repeat') },
  { weight: 2, arbitrary: fc.constant<Style>('records') },
  { weight: 2, arbitrary: fc.constant<Style>('runs') },
  { weight: 1, arbitrary: fc.constant<Style>('mixed') },
  { weight: 1, arbitrary: fc.constant<Style>('random') },
);

export const messageArb: fc.Arbitrary<MessageSpec> = fc.record({
  binary: fc.boolean(),
  size: sizeArb,
  style: styleArb,
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
  cuts: fc.oneof(
    { weight: 3, arbitrary: fc.constant([] as number[]) },
    { weight: 2, arbitrary: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 6 }) },
  ),
});

/**
 * 1 to `max` messages, cut to SEQUENCE_BUDGET bytes in all. Half of the
 * sequences are of one style: a feed sends the same kind of message over and
 * over, and with context takeover that is what compresses best (a message of
 * a few bits per 258-byte match).
 */
export function sequenceArb(max: number): fc.Arbitrary<MessageSpec[]> {
  const list = fc.array(messageArb, { minLength: 1, maxLength: max, size: 'max' });
  return fc.tuple(fc.option(styleArb, { nil: undefined, freq: 2 }), list).map(([style, specs]) => {
    let total = 0;
    return specs
      .map((m) => (style ? { ...m, style } : m))
      .filter((m) => (total += m.size) <= SEQUENCE_BUDGET || m === specs[0]);
  });
}

export function paramsArb(minServerBits = 8): fc.Arbitrary<DeflateParams> {
  return fc.record({
    serverMaxWindowBits: fc.integer({ min: minServerBits, max: 15 }),
    clientMaxWindowBits: fc.integer({ min: 8, max: 15 }),
    serverNoContextTakeover: fc.boolean(),
    clientNoContextTakeover: fc.boolean(),
  });
}

/** One code point's UTF-8 bytes at `at`; returns the new offset (room checked by the caller). */
function putCodePoint(b: Buffer, at: number, cp: number): number {
  if (cp < 0x80) {
    b[at] = cp;
    return at + 1;
  }
  if (cp < 0x800) {
    b[at] = 0xc0 | (cp >> 6);
    b[at + 1] = 0x80 | (cp & 0x3f);
    return at + 2;
  }
  if (cp < 0x10000) {
    b[at] = 0xe0 | (cp >> 12);
    b[at + 1] = 0x80 | ((cp >> 6) & 0x3f);
    b[at + 2] = 0x80 | (cp & 0x3f);
    return at + 3;
  }
  b[at] = 0xf0 | (cp >> 18);
  b[at + 1] = 0x80 | ((cp >> 12) & 0x3f);
  b[at + 2] = 0x80 | ((cp >> 6) & 0x3f);
  b[at + 3] = 0x80 | (cp & 0x3f);
  return at + 4;
}

/** Random valid UTF-8, 1- to 4-byte characters, exactly `n` bytes. */
function randomText(rng: Prng, b: Buffer, from: number, to: number): void {
  let at = from;
  while (at < to) {
    const r = rng.u32();
    const room = to - at;
    let cp: number;
    switch (r & 3) {
      case 0:
        cp = 0x20 + ((r >>> 2) % 0x5f);
        break;
      case 1:
        cp = 0x80 + ((r >>> 2) % 0x780);
        break;
      case 2:
        cp = 0x800 + ((r >>> 2) % 0xd000); // below the surrogates
        break;
      default:
        cp = 0x10000 + ((r >>> 2) % 0x100000);
    }
    const len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    at = putCodePoint(b, at, len <= room ? cp : 0x61);
  }
}

function record(i: number, seed: number): string {
  return `{"id":${i},"seq":${seed + i},"symbol":"ABC${i % 7}","price":${(i * 0.25).toFixed(2)},"ok":true}\n`;
}

function records(b: Buffer, from: number, to: number, start: number, seed: number): number {
  let at = from;
  let i = start;
  while (at < to) at += b.write(record(i++, seed), at, to - at, 'latin1');
  return i;
}

/** The bytes of `m`: exactly m.size of them, valid UTF-8 for text. */
export function materialize(m: MessageSpec): Buffer {
  const rng = new Prng(m.seed);
  const b = Buffer.alloc(m.size);
  const random = (from: number, to: number): void => {
    if (m.binary) rng.bytes(to - from).copy(b, from);
    else randomText(rng, b, from, to);
  };
  switch (m.style) {
    case 'random':
      random(0, m.size);
      break;
    case 'records':
      records(b, 0, m.size, 0, m.seed);
      break;
    case 'feed': {
      for (let at = 0; at < m.size; ) at += b.write(FEED_RECORD, at, m.size - at, 'latin1');
      break;
    }
    case 'repeat': {
      const unit = Buffer.alloc(rng.range(1, 256));
      if (m.binary) rng.bytes(unit.length).copy(unit);
      else randomText(rng, unit, 0, unit.length);
      let at = 0;
      while (at + unit.length <= m.size) at += unit.copy(b, at);
      b.fill(0x61, at);
      break;
    }
    case 'runs':
      for (let at = 0; at < m.size; ) {
        const n = Math.min(m.size - at, rng.range(1, 8192));
        b.fill(m.binary ? rng.int(256) : 0x61 + rng.int(26), at, at + n);
        at += n;
      }
      break;
    default: {
      let i = 0;
      for (let at = 0, turn = 0; at < m.size; turn++) {
        const to = Math.min(m.size, at + rng.range(1024, 4096));
        if (turn % 2) i = records(b, at, to, i, m.seed);
        else random(at, to);
        at = to;
      }
    }
  }
  return b;
}

/** The frame boundaries of `m` as sorted byte offsets into its bytes. */
export function cutOffsets(m: MessageSpec): number[] {
  return m.cuts.map((f) => Math.floor(f * m.size)).sort((a, b) => a - b);
}

/** Splits `data` at `offsets` (pieces may be empty). */
export function splitAt(data: Buffer, offsets: readonly number[]): Buffer[] {
  const pieces: Buffer[] = [];
  let start = 0;
  for (const o of [...offsets, data.length]) {
    pieces.push(data.subarray(start, o));
    start = o;
  }
  return pieces;
}

/** A short description for failure messages. */
export function describeSpecs(list: readonly MessageSpec[]): string {
  return list
    .map((m, i) => `#${i} ${m.binary ? 'binary' : 'text'} ${m.size} B ${m.style}${m.cuts.length ? ` in ${m.cuts.length + 1} frames` : ''}`)
    .join(', ');
}

/**
 * What a round-trip property's sequences carried: each sequence's messages
 * checked in order, counted, and the line the test prints at the end.
 */
export class SequenceTally {
  messages = 0;
  bytes = 0;
  readonly #started = performance.now();

  constructor(
    readonly what: string,
    readonly seed: number,
  ) {}

  /** Checks every message of a sequence in order (`context` goes into each label), then counts them. */
  async expectEach(
    specs: readonly MessageSpec[],
    sent: readonly Buffer[],
    context: string,
    expectOne: (data: Buffer, binary: boolean, label: string) => Promise<void>,
  ): Promise<void> {
    for (let i = 0; i < specs.length; i++) {
      const m = specs[i] as MessageSpec;
      await expectOne(sent[i] as Buffer, m.binary, `message ${i} of ${describeSpecs(specs)} (${context})`);
      this.bytes += m.size;
    }
    this.messages += specs.length;
  }

  report(runs: number): void {
    const s = ((performance.now() - this.#started) / 1000).toFixed(1);
    console.log(`deflate (${this.what}): ${runs} sequences, ${this.messages} messages, ${(this.bytes / MiB).toFixed(1)} MiB in ${s} s (seed ${this.seed})`);
  }
}
