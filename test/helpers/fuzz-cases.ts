/**
 * What a hostile or broken server does in one fuzz iteration, generated from
 * (seed, iteration) alone so any case can be replayed: the bytes it writes
 * after reading the upgrade request (a handshake, valid or broken, then
 * frames, valid, mutated or random), how it ends the TCP connection, the
 * client options to use, and for all-valid cases the exact outcome.
 */
import { createHash } from 'node:crypto';
import { constants as zlib, deflateRawSync } from 'node:zlib';
import * as F from './frames';
import { Opcode } from './frames';
import { Prng } from './prng';
import { computeAccept } from './raw-server';
import { redirectChain, type RedirectChain } from './fuzz-redirects';

/** How the server leaves: FIN, RST, or keep the socket open and say nothing. */
export type Ending = 'end' | 'destroy' | 'hang';

/** Options for the client's connect(), JSON-safe (they cross to a child). */
export interface FuzzClientOptions {
  maxPayload?: number | undefined;
  perMessageDeflate: boolean;
  /** false: the fuzz client answers PINGs with pong() from its 'ping' listener. */
  autoPong: boolean;
  handshakeTimeout: number;
  closeTimeout: number;
  heartbeat: false | { intervalMs: number; timeoutMs: number };
  followRedirects: boolean;
  maxRedirects?: number | undefined;
  /** Absent: one connection. Set on some refusals, so Retry-After reaches the reconnect delay. */
  reconnect?: { maxAttempts: number; backoffMs: number[]; maxRetryAfterMs: number };
}

/** Outcome an all-valid case must have: these messages, then this close. */
export interface Expected {
  /** sha256 over the messages (see `messageDigest`). */
  digest: string;
  messages: number;
  code: number;
  reason: string;
}

export interface FuzzCase {
  iteration: number;
  kind: 'valid' | 'frames' | 'handshake' | 'redirect';
  /** What the server does, step by step, for failure messages. */
  steps: string[];
  options: FuzzClientOptions;
  /** The server's bytes after the request, given the client's Sec-WebSocket-Key. */
  bytes(key: string): Buffer;
  /** Seed for cutting `bytes` into writes (segment boundaries matter to parsers). */
  chunkSeed: number;
  ending: Ending;
  expected?: Expected;
  /** Redirects answered before `bytes` (kind 'redirect'); the final answer is a case of another kind. */
  redirect?: RedirectChain;
}

/** Digest of a message sequence, as the client side computes it too. */
export function messageDigest(messages: ReadonlyArray<{ isBinary: boolean; data: Buffer }>): string {
  const h = createHash('sha256');
  for (const m of messages) {
    const head = Buffer.alloc(5);
    head[0] = m.isBinary ? 1 : 0;
    head.writeUInt32BE(m.data.length, 1);
    h.update(head).update(m.data);
  }
  return h.digest('hex');
}

// ---------------------------------------------------------------------------
// Handshake

interface Head {
  status: string;
  headers: Array<[string, string]>;
}

/** `deflate`: the Sec-WebSocket-Extensions value of the answer, or null for none. */
function acceptHead(key: string, deflate: string | null): Head {
  const headers: Array<[string, string]> = [
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Accept', computeAccept(key)],
  ];
  if (deflate !== null) headers.push(['Sec-WebSocket-Extensions', deflate]);
  return { status: 'HTTP/1.1 101 Switching Protocols', headers };
}

function formatHead(head: Head, eol = '\r\n'): Buffer {
  const lines = [head.status, ...head.headers.map(([n, v]) => `${n}: ${v}`)];
  return Buffer.from(lines.join(eol) + eol + eol, 'latin1');
}

const ABSURD_STATUS = [
  'HTTP/1.1 99999999999999999999999999 OK',
  'HTTP/1.1 -101 Negative',
  'HTTP/1.1 abc Letters',
  'HTTP/1.1 101',
  'HTTP/1.1 1010 Switching Protocols',
  'HTTP/9.9 101 Switching Protocols',
  'HTTP/1.1  101  Switching Protocols',
  'ICY 200 OK',
  'HTTP/1.1 000 Zero',
  'http/1.1 101 switching protocols',
  'HTTP/1.1 101 Switching Protocols\u0000',
  'GET / HTTP/1.1',
];

const REFUSALS = [200, 204, 301, 302, 400, 401, 403, 404, 426, 429, 500, 503];
/**
 * Retry-After values a refusal carries: 0, dates in the past, huge numbers
 * and far-future dates (capped by maxRetryAfterMs), and malformed ones
 * (ignored: the backoff schedule applies).
 */
const RETRY_AFTER = [
  '1', '0', '00', ' 0 ', '-5', 'soon', '1.5', '5s', '0x10', '1e3', '', '\t7',
  '99999999999', '999999', '18446744073709551616', '9'.repeat(200),
  'Thu, 01 Jan 1970 00:00:00 GMT', 'Sun, 06 Nov 1994 08:49:37 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT',
  'Mon, 99 Foo 2024 99:99:99 GMT', 'Sunday, 06-Nov-94 08:49:37 GMT', 'Sun Nov  6 08:49:37 1994', '5, 6',
];

/** A broken handshake and the steps that describe it. */
function brokenHandshake(rng: Prng, deflate: string | null): { bytes: (key: string) => Buffer; steps: string[] } {
  const kind = rng.weighted<string>([
    [3, 'truncated'],
    [2, 'header-flood'],
    [2, 'huge-line'],
    [2, 'absurd-status'],
    [2, 'refusal'],
    [2, 'bad-upgrade'],
    [1, 'lf-only'],
    [1, 'control-chars'],
    [1, 'not-http'],
    [1, 'continue-then-101'],
  ]);
  switch (kind) {
    case 'truncated': {
      const fraction = rng.float();
      return {
        steps: [`101 cut at ${(fraction * 100).toFixed(1)}% of its bytes`],
        bytes: (key) => {
          const full = formatHead(acceptHead(key, deflate));
          return full.subarray(0, Math.floor(full.length * fraction));
        },
      };
    }
    case 'header-flood': {
      const count = rng.range(500, 20000);
      const known = rng.chance(0.3);
      const before = rng.chance(0.5);
      return {
        steps: [`101 with ${count} ${known ? 'Set-Cookie' : 'X-Flood-n'} headers ${before ? 'before' : 'after'} the required ones`],
        bytes: (key) => {
          const head = acceptHead(key, deflate);
          const flood: Array<[string, string]> = [];
          for (let i = 0; i < count; i++) flood.push(known ? ['Set-Cookie', `c${i}=v`] : [`X-Flood-${i}`, 'v']);
          head.headers = before ? [...flood, ...head.headers] : [...head.headers, ...flood];
          return formatHead(head);
        },
      };
    }
    case 'huge-line': {
      const size = rng.pick([16 * 1024, 64 * 1024, 1024 * 1024, 2 * 1024 * 1024]);
      const where = rng.pick(['name', 'value', 'status']);
      return {
        steps: [`101 with a ${size}-byte ${where === 'status' ? 'reason phrase' : `header ${where}`}`],
        bytes: (key) => {
          const head = acceptHead(key, deflate);
          const big = 'a'.repeat(size);
          if (where === 'status') head.status = `HTTP/1.1 101 ${big}`;
          else if (where === 'name') head.headers.push([`X-${big}`, 'v']);
          else head.headers.push(['X-Big', big]);
          return formatHead(head);
        },
      };
    }
    case 'absurd-status': {
      const status = rng.pick(ABSURD_STATUS);
      return {
        steps: [`status line ${JSON.stringify(status)}`],
        bytes: (key) => formatHead({ ...acceptHead(key, deflate), status }),
      };
    }
    case 'refusal': {
      const status = rng.pick(REFUSALS);
      const bodyLength = rng.length(4096);
      const lie = rng.chance(0.3);
      const retryAfter = rng.pick(RETRY_AFTER);
      const response = Buffer.concat([
        formatHead({
          status: `HTTP/1.1 ${status} Status`,
          headers: [
            ['Content-Length', String(lie ? bodyLength * 2 + 1 : bodyLength)],
            ['Retry-After', retryAfter],
            ['Location', 'ws://127.0.0.1:1/elsewhere'],
          ],
        }),
        Buffer.alloc(bodyLength, 0x62),
      ]);
      return {
        steps: [`refusal ${status} with a ${bodyLength}-byte body, Retry-After ${retryAfter}${lie ? ', a Content-Length that lies' : ''}`],
        bytes: () => response,
      };
    }
    case 'bad-upgrade': {
      const change = rng.pick(['wrong-accept', 'no-accept', 'no-upgrade', 'h2c', 'no-connection', 'two-accepts', 'protocol', 'extension']);
      return {
        steps: [`101 with ${change}`],
        bytes: (key) => {
          const head = acceptHead(key, deflate);
          const set = (name: string, value: string | null): void => {
            head.headers = head.headers.filter(([n]) => n !== name);
            if (value !== null) head.headers.push([name, value]);
          };
          if (change === 'wrong-accept') set('Sec-WebSocket-Accept', computeAccept(`${key}x`));
          if (change === 'no-accept') set('Sec-WebSocket-Accept', null);
          if (change === 'no-upgrade') set('Upgrade', null);
          if (change === 'h2c') set('Upgrade', 'h2c');
          if (change === 'no-connection') set('Connection', null);
          if (change === 'two-accepts') head.headers.push(['Sec-WebSocket-Accept', 'AAAA']);
          if (change === 'protocol') set('Sec-WebSocket-Protocol', 'never-offered');
          if (change === 'extension') set('Sec-WebSocket-Extensions', 'x-unknown-extension; a=1');
          return formatHead(head);
        },
      };
    }
    case 'lf-only':
      return { steps: ['101 with bare LF line endings'], bytes: (key) => formatHead(acceptHead(key, deflate), '\n') };
    case 'control-chars': {
      const bad = rng.pick(['\u0000', '\r', '\u007f', '\u00ff', ' folded']);
      return {
        steps: [`101 with ${JSON.stringify(bad)} inside a header`],
        bytes: (key) => {
          const head = acceptHead(key, deflate);
          head.headers.splice(1, 0, ['X-Odd', `a${bad}b`]);
          if (bad === ' folded') head.headers.splice(2, 0, [' continued', 'line']);
          return formatHead(head);
        },
      };
    }
    case 'not-http': {
      const n = rng.range(1, 4096);
      const blank = rng.chance(0.5);
      const junk = Buffer.concat([rng.bytes(n), Buffer.from(blank ? '\r\n\r\n' : '')]);
      return { steps: [`${n} random bytes instead of HTTP${blank ? ', then a blank line' : ''}`], bytes: () => junk };
    }
    default:
      return {
        steps: ['100 Continue, then the 101'],
        bytes: (key) => Buffer.concat([Buffer.from('HTTP/1.1 100 Continue\r\n\r\n'), formatHead(acceptHead(key, deflate))]),
      };
  }
}

// ---------------------------------------------------------------------------
// Frames

interface Message {
  isBinary: boolean;
  data: Buffer;
}

/**
 * A permessage-deflate sender for one connection. With context takeover
 * (the answer has no server_no_context_takeover) each message may refer back
 * into the ones compressed before it, as zlib streams do: it is compressed
 * with their last window's worth as the dictionary. Uncompressed messages
 * are not part of that history.
 */
class Compressor {
  private history = Buffer.alloc(0);
  private readonly takeover: boolean;
  private readonly windowBits: number;

  constructor(answer: string) {
    this.takeover = !/server_no_context_takeover/i.test(answer);
    const bits = /server_max_window_bits=(\d+)/i.exec(answer);
    const n = bits ? Number(bits[1]) : 15;
    this.windowBits = n >= 8 && n <= 15 ? n : 15;
  }

  /** A sync flush with its 00 00 ff ff cut, or with `final` a block with BFINAL set, kept whole. */
  compress(data: Buffer, final = false): Buffer {
    const window = 2 ** this.windowBits;
    const dictionary = this.takeover && this.history.length > 0 ? this.history.subarray(-window) : undefined;
    const out = deflateRawSync(data, {
      finishFlush: final ? zlib.Z_FINISH : zlib.Z_SYNC_FLUSH,
      windowBits: this.windowBits,
      ...(dictionary ? { dictionary } : {}),
    });
    if (this.takeover) this.history = Buffer.concat([this.history, data]).subarray(-32768);
    return final ? out : out.subarray(0, out.length - 4);
  }
}

function randomMessage(rng: Prng, maxBytes: number): Message {
  const isBinary = rng.chance(0.5);
  const n = rng.length(maxBytes);
  if (rng.chance(0.3)) {
    // A short unit over and over: compresses to a few bits per 258-byte
    // match, where lws lost output at the end of messages.
    const unit = isBinary ? rng.bytes(rng.range(1, 64)) : Buffer.from(rng.text(rng.range(1, 64)), 'utf8');
    const data = Buffer.alloc(n, 0x61);
    for (let at = 0; at + unit.length <= n; at += unit.length) unit.copy(data, at);
    return { isBinary, data };
  }
  return { isBinary, data: isBinary ? rng.bytes(n) : Buffer.from(rng.text(n), 'utf8') };
}

/** The frames of one valid message: maybe fragmented, maybe compressed, with control frames between fragments. */
function validMessageFrames(rng: Prng, m: Message, compressor: Compressor | null, steps: string[]): Buffer[] {
  const compressed = compressor !== null && rng.chance(0.6);
  const final = compressed && rng.chance(0.1);
  const wire = compressed ? (compressor as Compressor).compress(m.data, final) : m.data;
  const parts: Buffer[] = [];
  const pieces = rng.chance(0.3) ? rng.range(2, 6) : 1;
  let offset = 0;
  for (let i = 0; i < pieces; i++) {
    const end = i === pieces - 1 ? wire.length : Math.min(wire.length, offset + rng.int(wire.length - offset + 1));
    parts.push(wire.subarray(offset, end));
    offset = end;
  }
  const frames = F.fragmented(m.isBinary ? Opcode.Binary : Opcode.Text, parts, { rsv1: compressed });
  const out: Buffer[] = [];
  frames.forEach((frame, i) => {
    out.push(frame);
    if (i < frames.length - 1 && rng.chance(0.3)) out.push(rng.chance(0.5) ? F.ping(rng.bytes(rng.range(0, 125))) : F.pong(rng.bytes(rng.range(0, 20))));
  });
  steps.push(`${m.isBinary ? 'binary' : 'text'} ${m.data.length} B in ${frames.length} frame(s)${compressed ? `, compressed${final ? ' (BFINAL)' : ''}` : ''}`);
  return out;
}

const INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1100, 2999, 5000, 65535];
const VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999];

function maskKey(rng: Prng): Buffer {
  return rng.bytes(4);
}

/**
 * A compressed message whose DEFLATE data is broken: bits flipped, cut short,
 * a reserved block type, a stored block whose length check fails, garbage
 * after a valid flush, or references into a window the client never saw.
 */
function corruptCompressed(rng: Prng, compressor: Compressor, steps: string[]): Buffer {
  const m = randomMessage(rng, 4096);
  const variant = rng.pick(['flip', 'truncate', 'block-type-3', 'stored-length', 'garbage-tail', 'far-back']);
  let wire: Buffer;
  switch (variant) {
    case 'flip': {
      wire = Buffer.from(compressor.compress(m.data));
      for (let i = rng.range(1, 3); i > 0 && wire.length > 0; i--) {
        const at = rng.int(wire.length);
        wire[at] = (wire[at] as number) ^ (1 << rng.int(8));
      }
      break;
    }
    case 'truncate': {
      const full = compressor.compress(m.data);
      wire = full.subarray(0, rng.int(full.length + 1));
      break;
    }
    case 'block-type-3':
      wire = Buffer.concat([Buffer.from([0x06 | rng.int(2)]), rng.bytes(rng.range(0, 64))]);
      break;
    case 'stored-length':
      wire = Buffer.from([0x00, 0x05, 0x00, 0x00, 0x00, 0x61, 0x62]);
      break;
    case 'garbage-tail':
      wire = Buffer.concat([compressor.compress(m.data), rng.bytes(rng.range(1, 64))]);
      break;
    default: {
      const unknown = rng.bytes(4096);
      const out = deflateRawSync(Buffer.concat([unknown.subarray(rng.int(2048), 4096), m.data]), {
        finishFlush: zlib.Z_SYNC_FLUSH,
        dictionary: unknown,
      });
      wire = out.subarray(0, out.length - 4);
    }
  }
  const pieces = rng.chance(0.3) ? 2 : 1;
  const cut = rng.int(wire.length + 1);
  const parts = pieces === 2 ? [wire.subarray(0, cut), wire.subarray(cut)] : [wire];
  steps.push(`compressed ${m.isBinary ? 'binary' : 'text'} message, broken: ${variant} (${wire.length} B in ${parts.length} frame(s))`);
  return Buffer.concat(F.fragmented(m.isBinary ? Opcode.Binary : Opcode.Text, parts, { rsv1: true }));
}

/** One hostile item: a mutated or invalid frame, or junk. */
function mutation(rng: Prng, maxPayload: number | undefined, compressor: Compressor | null, steps: string[]): Buffer {
  const kind = rng.weighted<string>([
    [3, 'random-opcode'],
    [2, 'masked'],
    [2, 'declared-longer'],
    [2, 'declared-shorter'],
    [2, 'top-bit-64'],
    [3, 'huge-declared'],
    [1, 'non-minimal-length'],
    [2, 'truncated-header'],
    [2, 'big-control'],
    [1, 'fragmented-control'],
    [1, 'orphan-continuation'],
    [1, 'interrupted-fragments'],
    [2, 'bad-utf8'],
    [3, 'bad-close'],
    [3, 'close-then-garbage'],
    [3, 'bit-flip'],
    [2, 'random-bytes'],
    [2, 'compressed-garbage'],
    [3, 'corrupt-compressed'],
    [1, 'over-max-payload'],
    [2, 'ping-burst'],
    [1, 'ping-flood'],
    [2, 'two-closes'],
    [1, 'rsv1-continuation'],
    [1, 'stalled-bad-text'],
  ]);
  const payload = (): Buffer => rng.bytes(rng.length(300));
  switch (kind) {
    case 'random-opcode': {
      const opcode = rng.int(16);
      const spec = { opcode, fin: rng.chance(0.8), rsv1: rng.chance(0.3), rsv2: rng.chance(0.2), rsv3: rng.chance(0.2), payload: payload() };
      steps.push(`frame opcode ${opcode} fin ${spec.fin} rsv ${+spec.rsv1}${+spec.rsv2}${+spec.rsv3} ${spec.payload.length} B`);
      return F.encodeFrame(spec);
    }
    case 'masked': {
      steps.push('masked frame from the server');
      return F.encodeFrame({ opcode: rng.pick([Opcode.Text, Opcode.Binary, Opcode.Ping, Opcode.Close]), payload: Buffer.from('masked'), mask: maskKey(rng) });
    }
    case 'declared-longer': {
      const body = payload();
      const declared = body.length + rng.range(1, 70000);
      steps.push(`frame declaring ${declared} B carrying ${body.length} B`);
      return F.encodeFrame({ opcode: Opcode.Binary, payload: body, declaredLength: declared });
    }
    case 'declared-shorter': {
      const body = rng.bytes(rng.range(2, 400));
      const declared = rng.int(body.length);
      steps.push(`frame declaring ${declared} B followed by ${body.length} B`);
      return F.encodeFrame({ opcode: rng.pick([Opcode.Text, Opcode.Binary]), payload: body, declaredLength: declared });
    }
    case 'top-bit-64': {
      const declared = (1n << 63n) | BigInt(rng.u32());
      steps.push(`64-bit length with the top bit set (${declared})`);
      return F.encodeFrame({ opcode: Opcode.Binary, payload: rng.bytes(rng.range(0, 64)), declaredLength: declared, lengthBits: 64 });
    }
    case 'huge-declared': {
      const declared = rng.pick([2n ** 40n, 2n ** 32n + 1n, 2n ** 31n, 2n ** 53n, 2n ** 62n, BigInt((maxPayload ?? 100 * 1024 * 1024) + 1)]);
      const carried = rng.length(4096);
      steps.push(`frame declaring ${declared} B carrying ${carried} B`);
      return F.encodeFrame({ opcode: rng.pick([Opcode.Text, Opcode.Binary, Opcode.Continuation]), payload: rng.bytes(carried), declaredLength: declared, lengthBits: 64 });
    }
    case 'non-minimal-length': {
      const text = 'non-minimal';
      const bits = rng.pick([16, 64] as const);
      steps.push(`text frame with a ${bits}-bit length for 11 B`);
      return F.text(text, { lengthBits: bits });
    }
    case 'truncated-header': {
      const full = F.encodeFrame({ opcode: Opcode.Binary, payload: Buffer.alloc(70000, 1), mask: rng.chance(0.3) ? maskKey(rng) : false });
      const cut = rng.range(1, 9);
      steps.push(`first ${cut} bytes of a frame header`);
      return full.subarray(0, cut);
    }
    case 'big-control': {
      const opcode = rng.pick([Opcode.Ping, Opcode.Pong, Opcode.Close]);
      const n = rng.range(126, 1000);
      steps.push(`control frame ${opcode} with ${n} B`);
      return F.encodeFrame({ opcode, payload: opcode === Opcode.Close ? F.closePayload(1000, 'r'.repeat(n - 2)) : rng.bytes(n) });
    }
    case 'fragmented-control': {
      steps.push('ping with FIN clear');
      return F.ping('frag', { fin: false });
    }
    case 'orphan-continuation': {
      steps.push('continuation with no message in progress');
      return F.continuation(payload(), rng.chance(0.5));
    }
    case 'interrupted-fragments': {
      steps.push('text start, then a new binary message before its end');
      return Buffer.concat([F.text('start', { fin: false }), F.binary(payload())]);
    }
    case 'bad-utf8': {
      const bad = rng.pick([Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xff, 0xfe]), Buffer.from([0xf4, 0x90, 0x80, 0x80])]);
      steps.push(`text with invalid UTF-8 ${bad.toString('hex')}`);
      return F.text(Buffer.concat([Buffer.from('ok '), bad, Buffer.from(' tail')]));
    }
    case 'bad-close': {
      const variant = rng.pick(['one-byte', 'invalid-code', 'bad-utf8-reason']);
      steps.push(`close frame: ${variant}`);
      if (variant === 'one-byte') return F.encodeFrame({ opcode: Opcode.Close, payload: Buffer.from([3]) });
      if (variant === 'invalid-code') return F.close(rng.pick(INVALID_CLOSE_CODES), 'why');
      return F.close(1000, Buffer.from([0x61, 0xc0, 0xaf]));
    }
    case 'close-then-garbage': {
      const code = rng.pick(VALID_CLOSE_CODES);
      const garbage = rng.chance(0.5) ? rng.bytes(rng.range(1, 2000)) : F.text('after close');
      steps.push(`close ${code}, then ${garbage.length} B of garbage`);
      return Buffer.concat([F.close(code, 'bye'), garbage]);
    }
    case 'bit-flip': {
      const frame = Buffer.from(F.text(rng.text(rng.range(0, 200))));
      const flips = rng.range(1, 3);
      for (let i = 0; i < flips; i++) {
        const at = rng.int(frame.length);
        frame[at] = (frame[at] as number) ^ (1 << rng.int(8));
      }
      steps.push(`text frame with ${flips} flipped bit(s)`);
      return frame;
    }
    case 'random-bytes': {
      const bytes = rng.bytes(rng.range(1, 1024));
      steps.push(`${bytes.length} random bytes`);
      return bytes;
    }
    case 'ping-burst': {
      const n = rng.range(2, 64);
      steps.push(`${n} PINGs in a row`);
      return Buffer.concat(Array.from({ length: n }, () => F.ping(rng.bytes(rng.range(0, 125)))));
    }
    case 'ping-flood': {
      const n = rng.range(1000, 5000);
      steps.push(`${n} PINGs of 125 B`);
      const one = F.ping(rng.bytes(125));
      return Buffer.concat(Array.from({ length: n }, () => one));
    }
    case 'two-closes': {
      const a = rng.pick(VALID_CLOSE_CODES);
      const b = rng.pick([...VALID_CLOSE_CODES, ...INVALID_CLOSE_CODES]);
      steps.push(`close ${a}, then close ${b}`);
      return Buffer.concat([F.close(a, 'first'), F.close(b, 'second')]);
    }
    case 'rsv1-continuation': {
      steps.push('text start, then a continuation with RSV1');
      return Buffer.concat([F.text('start', { fin: false }), F.continuation(payload(), true, { rsv1: true })]);
    }
    case 'stalled-bad-text': {
      const declared = rng.range(3000, 100_000);
      const bad = rng.pick([Buffer.from([0x61, 0xff]), Buffer.from([0xe2, 0x28]), Buffer.from([0xed, 0xa0])]);
      steps.push(`text frame declaring ${declared} B, only ${bad.toString('hex')} of it sent`);
      return F.encodeFrame({ opcode: Opcode.Text, payload: bad, declaredLength: declared });
    }
    case 'corrupt-compressed':
      if (compressor) return corruptCompressed(rng, compressor, steps);
    // falls through: no permessage-deflate on this connection
    case 'compressed-garbage': {
      const body = rng.bytes(rng.range(1, 500));
      steps.push(`RSV1 (compressed) frame of ${body.length} random bytes`);
      return F.encodeFrame({ opcode: rng.pick([Opcode.Text, Opcode.Binary]), payload: body, rsv1: true });
    }
    default: {
      const limit = maxPayload ?? 64 * 1024;
      const n = limit + rng.range(1, 100);
      steps.push(`binary message of ${n} B (maxPayload ${maxPayload ?? 'default'})`);
      return F.binary(Buffer.alloc(n, 7));
    }
  }
}

// Parameters that leave any server-compressed message decodable.
const SAFE_DEFLATE = [
  'permessage-deflate',
  'permessage-deflate; server_no_context_takeover',
  'permessage-deflate; client_no_context_takeover',
  'permessage-deflate; client_max_window_bits=15',
  'permessage-deflate; server_max_window_bits=15',
];
const HOSTILE_DEFLATE = [
  'permessage-deflate; server_max_window_bits=8',
  'permessage-deflate; server_max_window_bits=7',
  'permessage-deflate; server_max_window_bits=16',
  'permessage-deflate; client_max_window_bits=99',
  'permessage-deflate; server_max_window_bits=',
  'permessage-deflate; client_max_window_bits',
  'permessage-deflate; x_unknown_parameter=1',
  'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
  'permessage-deflate, permessage-deflate',
  'permessage-deflate;;;',
  'PERMESSAGE-DEFLATE',
];

/** The Sec-WebSocket-Extensions value accepting the client's deflate offer. */
function deflateAnswer(rng: Prng, decodable: boolean): string {
  return decodable || rng.chance(0.6) ? rng.pick(SAFE_DEFLATE) : rng.pick(HOSTILE_DEFLATE);
}

// ---------------------------------------------------------------------------

function clientOptions(rng: Prng, kind: FuzzCase['kind']): FuzzClientOptions {
  return {
    followRedirects: true,
    maxPayload: rng.pick([undefined, 1024, 64 * 1024, 1024 * 1024]),
    perMessageDeflate: rng.chance(0.5),
    autoPong: rng.chance(0.8),
    handshakeTimeout: 2000,
    closeTimeout: 1000,
    // A silent server after open is dropped by the heartbeat; valid cases
    // finish at once and must not race it on a loaded machine.
    heartbeat: kind === 'valid' ? false : { intervalMs: 1000, timeoutMs: 1000 },
  };
}

/** The case for one iteration of a run with `seed`. */
export function fuzzCase(seed: number, iteration: number): FuzzCase {
  const rng = Prng.forIteration(seed, iteration);
  const kind = rng.weighted<FuzzCase['kind']>([
    [2, 'valid'],
    [5, 'frames'],
    [3, 'handshake'],
    [3, 'redirect'],
  ]);
  if (kind !== 'redirect') return finalAnswer(rng, iteration, kind);
  const maxRedirects = rng.pick([undefined, undefined, undefined, 0, 1, 3]);
  const chain = redirectChain(rng, maxRedirects);
  const inner = finalAnswer(rng, iteration, rng.weighted<FuzzCase['kind']>([[3, 'valid'], [3, 'frames'], [2, 'handshake']]));
  const c: FuzzCase = {
    ...inner,
    kind,
    steps: [...chain.steps.map((s) => `redirect: ${s.step}`), ...inner.steps],
    options: { ...inner.options, maxRedirects },
    redirect: chain,
  };
  // Only a chain the client follows to the end reaches the final answer.
  if (!chain.reachesFinal) delete c.expected;
  return c;
}

/** A server's own answer to the upgrade: valid, broken frames, or a broken handshake. */
function finalAnswer(rng: Prng, iteration: number, kind: FuzzCase['kind']): FuzzCase {
  const options = clientOptions(rng, kind);
  const deflate = options.perMessageDeflate && rng.chance(0.6) ? deflateAnswer(rng, kind === 'valid') : null;
  const chunkSeed = rng.u32();
  const steps: string[] = [];

  if (kind === 'handshake') {
    const broken = brokenHandshake(rng, deflate);
    const ending = rng.weighted<Ending>([[5, 'end'], [2, 'destroy'], [3, 'hang']]);
    // Drawn last, so every other draw of a seed stays what it was. The
    // bounds keep such a case short: a huge, past, malformed or zero
    // Retry-After goes through the reconnect delay, capped at 30 ms.
    if (broken.steps[0]?.startsWith('refusal') && rng.chance(0.5)) {
      options.reconnect = { maxAttempts: 2, backoffMs: [5, 10], maxRetryAfterMs: 30 };
    }
    return { iteration, kind, steps: [...broken.steps, `then ${ending}`], options, bytes: broken.bytes, chunkSeed, ending };
  }

  steps.push(`101${deflate !== null ? ` with ${JSON.stringify(deflate)}` : ''}`);
  const body: Buffer[] = [];
  const compressor = deflate !== null ? new Compressor(deflate) : null;
  if (kind === 'valid') {
    const limit = Math.min(options.maxPayload ?? 256 * 1024, 256 * 1024);
    const messages: Message[] = [];
    const count = rng.range(0, 8);
    for (let i = 0; i < count; i++) {
      const m = randomMessage(rng, limit);
      messages.push(m);
      body.push(...validMessageFrames(rng, m, compressor, steps));
    }
    const reason = rng.pick(['', 'bye', 'done 完了']);
    body.push(F.close(1000, reason));
    steps.push(`close 1000 ${JSON.stringify(reason)}, then end`);
    const wire = Buffer.concat(body);
    return {
      iteration,
      kind,
      steps,
      options,
      bytes: (key) => Buffer.concat([formatHead(acceptHead(key, deflate)), wire]),
      chunkSeed,
      ending: 'end',
      expected: { digest: messageDigest(messages), messages: messages.length, code: 1000, reason },
    };
  }

  const items = rng.range(1, 10);
  for (let i = 0; i < items; i++) {
    if (rng.chance(0.35)) body.push(...validMessageFrames(rng, randomMessage(rng, 4096), compressor, steps));
    else body.push(mutation(rng, options.maxPayload, compressor, steps));
  }
  const ending = rng.weighted<Ending>([[6, 'end'], [2, 'destroy'], [2, 'hang']]);
  steps.push(`then ${ending}`);
  const wire = Buffer.concat(body);
  return {
    iteration,
    kind,
    steps,
    options,
    bytes: (key) => Buffer.concat([formatHead(acceptHead(key, deflate)), wire]),
    chunkSeed,
    ending,
  };
}

/**
 * Cuts `bytes` into the writes the server makes: 1 to 256 pieces at random
 * points (a short stream in 256 pieces arrives nearly a byte at a time).
 */
export function chunkWrites(bytes: Buffer, chunkSeed: number): Buffer[] {
  const rng = new Prng(chunkSeed);
  const pieces = rng.weighted<number>([[4, 1], [3, 2], [2, 4], [1, 8], [1, 64], [1, 256]]);
  const cuts = Array.from({ length: pieces - 1 }, () => rng.int(bytes.length + 1)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let offset = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(bytes.subarray(offset, cut));
    offset = cut;
  }
  return out.filter((b) => b.length > 0);
}
