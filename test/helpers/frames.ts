/**
 * RFC 6455 frame encoding (server side: unmasked unless asked) and a stateful
 * decoder for what a client sends (masked frames).
 *
 * The encoder deliberately allows protocol violations (reserved opcodes, RSV
 * bits, masking from a server, lying length fields, non-minimal length
 * encodings) so tests can feed hostile input to the client under test.
 */
import { randomBytes } from 'node:crypto';

export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;
export type OpcodeName = keyof typeof Opcode;

export type Payload = Buffer | string;

/** Per-frame header flags shared by the convenience builders. */
export interface FrameFlags {
  /** FIN bit (default true). */
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /**
   * Mask the payload: `true` uses a random key, a 4-byte Buffer uses that key.
   * Servers must not mask, so the default is unmasked.
   */
  mask?: boolean | Buffer;
  /**
   * Length to write in the header instead of the real payload length
   * (hostile tests). The real payload bytes are still written as given.
   */
  declaredLength?: number | bigint;
  /**
   * Force the length encoding: 7 (inline), 16 (126 + u16) or 64 (127 + u64).
   * Default: the minimal encoding for the (declared) length.
   */
  lengthBits?: 7 | 16 | 64;
}

export interface FrameSpec extends FrameFlags {
  /** 4-bit opcode; reserved values are allowed on purpose. */
  opcode: number;
  payload?: Payload;
}

function toBuffer(payload: Payload | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
}

function minimalLengthBits(length: bigint): 7 | 16 | 64 {
  if (length <= 125n) return 7;
  if (length <= 0xffffn) return 16;
  return 64;
}

/** XOR `data` with a 4-byte key (in a copy). Applying it twice restores the data. */
export function applyMask(data: Buffer, key: Buffer): Buffer {
  if (key.length !== 4) throw new RangeError('mask key must be 4 bytes');
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = (data[i] as number) ^ (key[i & 3] as number);
  return out;
}

/** Encode a single frame. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const { opcode } = spec;
  if (!Number.isInteger(opcode) || opcode < 0 || opcode > 0xf) {
    throw new RangeError(`opcode must be 0..15, got ${opcode}`);
  }
  const payload = toBuffer(spec.payload);
  const declared = BigInt(spec.declaredLength ?? payload.length);
  if (declared < 0n || declared > 0xffff_ffff_ffff_ffffn) {
    throw new RangeError(`declaredLength out of u64 range: ${declared}`);
  }
  const bits = spec.lengthBits ?? minimalLengthBits(declared);
  if ((bits === 7 && declared > 125n) || (bits === 16 && declared > 0xffffn)) {
    throw new RangeError(`length ${declared} does not fit a ${bits}-bit length field`);
  }

  let maskKey: Buffer | undefined;
  if (spec.mask === true) maskKey = randomBytes(4);
  else if (Buffer.isBuffer(spec.mask)) {
    if (spec.mask.length !== 4) throw new RangeError('mask key must be 4 bytes');
    maskKey = spec.mask;
  }

  const extra = bits === 7 ? 0 : bits === 16 ? 2 : 8;
  const header = Buffer.alloc(2 + extra + (maskKey ? 4 : 0));
  header[0] =
    ((spec.fin ?? true) ? 0x80 : 0) |
    (spec.rsv1 ? 0x40 : 0) |
    (spec.rsv2 ? 0x20 : 0) |
    (spec.rsv3 ? 0x10 : 0) |
    opcode;
  const maskBit = maskKey ? 0x80 : 0;
  if (bits === 7) {
    header[1] = maskBit | Number(declared);
  } else if (bits === 16) {
    header[1] = maskBit | 126;
    header.writeUInt16BE(Number(declared), 2);
  } else {
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(declared, 2);
  }
  if (maskKey) maskKey.copy(header, 2 + extra);
  return Buffer.concat([header, maskKey ? applyMask(payload, maskKey) : payload]);
}

export function text(data: string | Buffer, flags: FrameFlags = {}): Buffer {
  return encodeFrame({ ...flags, opcode: Opcode.Text, payload: data });
}

export function binary(data: Buffer | string, flags: FrameFlags = {}): Buffer {
  return encodeFrame({ ...flags, opcode: Opcode.Binary, payload: data });
}

export function ping(data: Payload = Buffer.alloc(0), flags: FrameFlags = {}): Buffer {
  return encodeFrame({ ...flags, opcode: Opcode.Ping, payload: data });
}

export function pong(data: Payload = Buffer.alloc(0), flags: FrameFlags = {}): Buffer {
  return encodeFrame({ ...flags, opcode: Opcode.Pong, payload: data });
}

/**
 * Close frame. No code means an empty payload; the reason is only written
 * when a code is given. Any u16 code is accepted (invalid ones are useful).
 */
export function close(code?: number, reason: string | Buffer = '', flags: FrameFlags = {}): Buffer {
  return encodeFrame({ ...flags, opcode: Opcode.Close, payload: closePayload(code, reason) });
}

export function continuation(data: Payload, fin: boolean, flags: FrameFlags = {}): Buffer {
  return encodeFrame({ ...flags, opcode: Opcode.Continuation, payload: data, fin });
}

/** Build a close payload (`code` as u16 BE + reason), or empty without a code. */
export function closePayload(code?: number, reason: string | Buffer = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, toBuffer(reason)]);
}

/**
 * Split one message into frames: first frame carries `opcode`, the rest are
 * continuations, FIN on the last. `parts` must be non-empty.
 */
export function fragmented(opcode: number, parts: readonly Payload[], flags: FrameFlags = {}): Buffer[] {
  if (parts.length === 0) throw new RangeError('fragmented() needs at least one part');
  return parts.map((part, i) =>
    encodeFrame({
      ...flags,
      // Compression (rsv1) is only flagged on the first frame of a message.
      rsv1: i === 0 ? (flags.rsv1 ?? false) : false,
      opcode: i === 0 ? opcode : Opcode.Continuation,
      payload: part,
      fin: i === parts.length - 1,
    }),
  );
}

// ---------------------------------------------------------------------------
// Decoding

export interface DecodedFrame {
  fin: boolean;
  /** The three RSV bits as in the header: 0b100 = RSV1, 0b010 = RSV2, 0b001 = RSV3. */
  rsv: number;
  opcode: number;
  masked: boolean;
  /** Mask key when `masked`. */
  maskKey?: Buffer;
  /** Payload with the mask already removed. */
  payload: Buffer;
}

/** Parsed close payload. `code` is undefined for an empty payload. */
export interface CloseInfo {
  code?: number;
  reason: string;
}

/** Parse a close frame's payload (a 1-byte payload yields no code, reason ''). */
export function parseClose(payload: Buffer): CloseInfo {
  if (payload.length < 2) return { reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

export class FrameDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameDecodeError';
  }
}

export interface FrameReaderOptions {
  /** Reject frames declaring a longer payload (default 64 MiB). */
  maxPayload?: number;
}

/**
 * Stateful parser: push raw bytes in any chunking, get complete frames out.
 * Structural only: it does not police opcodes, RSV bits or masking, so tests
 * can assert exactly what the peer put on the wire. Chunks are only joined
 * once a whole frame is present, so large payloads cost O(n).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly maxPayload: number;

  constructor(options: FrameReaderOptions = {}) {
    this.maxPayload = options.maxPayload ?? 64 * 1024 * 1024;
  }

  /** Bytes held that do not yet form a complete frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Add bytes; returns every frame completed by them (possibly none). */
  push(chunk: Buffer): DecodedFrame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: DecodedFrame[] = [];
    // Bounded: every iteration consumes at least 2 bytes or returns.
    while (this.buffered >= 2) {
      const frame = this.tryParse();
      if (!frame) break;
      frames.push(frame);
    }
    return frames;
  }

  /** Copy the first `n` buffered bytes (n <= buffered) without consuming them. */
  private peek(n: number): Buffer {
    const out = Buffer.alloc(n);
    let offset = 0;
    for (const chunk of this.chunks) {
      if (offset >= n) break;
      offset += chunk.copy(out, offset, 0, Math.min(chunk.length, n - offset));
    }
    return out;
  }

  private consume(n: number): Buffer {
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.buffered);
    const taken = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return taken;
  }

  private tryParse(): DecodedFrame | undefined {
    const first = this.peek(2);
    const b0 = first[0] as number;
    const b1 = first[1] as number;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const headerLength = 2 + extra + (masked ? 4 : 0);
    if (this.buffered < headerLength) return undefined;

    const header = this.peek(headerLength);
    let length: number;
    if (len7 === 126) {
      length = header.readUInt16BE(2);
    } else if (len7 === 127) {
      const big = header.readBigUInt64BE(2);
      if (big > BigInt(this.maxPayload)) {
        throw new FrameDecodeError(`frame declares ${big} payload bytes (max ${this.maxPayload})`);
      }
      length = Number(big);
    } else {
      length = len7;
    }
    if (length > this.maxPayload) {
      throw new FrameDecodeError(`frame declares ${length} payload bytes (max ${this.maxPayload})`);
    }
    if (this.buffered < headerLength + length) return undefined;

    const raw = this.consume(headerLength + length);
    const maskKey = masked ? Buffer.from(raw.subarray(2 + extra, 2 + extra + 4)) : undefined;
    const body = raw.subarray(headerLength);
    return {
      fin: (b0 & 0x80) !== 0,
      rsv: (b0 >> 4) & 0x7,
      opcode: b0 & 0x0f,
      masked,
      ...(maskKey ? { maskKey } : {}),
      payload: maskKey ? applyMask(body, maskKey) : Buffer.from(body),
    };
  }
}
