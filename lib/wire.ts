// The wire contract with the addon (native/wire.h):
// event types, the lists whose index is their number on the wire, the event
// index's layout, and typed decoders of event values and payloads.
// test/wire.test.ts compares every list here with the binding's constants().
import type { ErrorCode } from './errors';
import type { DisconnectInfo, GiveUpInfo, ReconnectingInfo, RotatePhase } from './events';
import { monoNow, type HandshakeTimings, type RemoteAddress } from './stats';

/** Event types: column `type` of the event index. */
export enum EventType {
  Open = 1,
  Text = 2,
  Binary = 3,
  Close = 4,
  Error = 5,
  Pong = 6,
  Sent = 7,
  Log = 8,
  State = 9,
  Disconnect = 10,
  Reconnecting = 11,
  GiveUp = 12,
  Stall = 13,
  Rotate = 14,
  Drop = 15,
  NeedConfig = 16,
  Decide = 17,
  OnOpen = 18,
  Gap = 19,
  CloseReceived = 20,
  Ping = 21,
  NeedLookup = 22,
}

/** The event index: one row of INDEX_STRIDE doubles per event, in these columns. */
export const INDEX_STRIDE = 6;
export const IndexColumn = { type: 0, id: 1, value: 2, chunk: 3, offset: 4, length: 5 } as const;

/** A session's state, numbered by its index (a State event's value). */
export const SESSION_STATES = ['connecting', 'open', 'reconnecting', 'closing', 'closed'] as const;
/** A session's state: `reconnecting` is the wait between attempts. */
export type SessionState = (typeof SESSION_STATES)[number];

/**
 * Why a connection or attempt ended:
 * `refused` TCP connection refused; `network` reset, unreachable or dropped
 * (1006); `dns` name resolution failed; `timeout` opening handshake timed
 * out; `tls` TLS handshake or certificate failure; `http` the upgrade was
 * answered with another status; `proxy` the HTTP proxy refused the
 * CONNECT; `handshake` a bad 101 (accept key, extensions, subprotocol);
 * `heartbeat` no proof of life in time; `stall` no message within
 * stallTimeoutMs; `close` the server closed with a code; `protocol` the
 * client failed the connection (1002, 1007, 1009); `config` the
 * url/headers functions or onOpen failed; `user` close() or terminate().
 */
export const CAUSES = [
  'refused', 'network', 'dns', 'timeout', 'tls', 'http', 'proxy', 'handshake', 'heartbeat', 'stall', 'close',
  'protocol', 'config', 'user',
] as const;
export type Cause = (typeof CAUSES)[number];

/** What the built-in failure classifier proposes (shouldReconnect's `info.action`). */
export const ACTIONS = ['retry', 'retry-after', 'refresh-then-retry', 'give-up'] as const;
export type Action = (typeof ACTIONS)[number];

/** Why a message was not sent, numbered by its index. */
export const DROP_REASONS = ['overflow', 'expired', 'closed'] as const;
export type DropReason = (typeof DROP_REASONS)[number];
/** A Drop event's value: bit 0 binary, bits 1-2 the reason, bit 3 one of onOpen's sends. */
export const DropBits = { binary: 1, reasonShift: 1, reasonMask: 3, priority: 8 } as const;

/** What a send() beyond the queue's bounds does; policy.overflow is its index. */
export const OVERFLOW_POLICIES = ['reject', 'drop-oldest', 'drop-newest'] as const;
export type OverflowPolicy = (typeof OVERFLOW_POLICIES)[number];

/** How the backoff's delays are randomised; policy.jitter is its index. */
export const JITTER_MODES = ['full', 'add'] as const;
export type JitterMode = (typeof JITTER_MODES)[number];

/** The wire number of a name in one of the lists above. */
export function wireNumber<T extends string>(list: readonly T[], name: T): number {
  return list.indexOf(name);
}

/** A State event's value. */
export function decodeState(value: number): SessionState {
  return SESSION_STATES[value] ?? 'closed';
}

/** A Drop event's value. */
export function decodeDrop(value: number): { isBinary: boolean; reason: DropReason; priority: boolean } {
  return {
    isBinary: (value & DropBits.binary) !== 0,
    reason: DROP_REASONS[(value >> DropBits.reasonShift) & DropBits.reasonMask] ?? 'closed',
    priority: (value & DropBits.priority) !== 0,
  };
}

/** A JSON payload of an event. */
export function decodeJson<T>(chunk: Buffer, offset: number, length: number): T {
  return JSON.parse(chunk.toString('utf8', offset, offset + length)) as T;
}

/** An Open (and OnOpen) event's payload. */
export interface OpenPayload {
  protocol: string;
  extensions: string;
  headers: Record<string, string>;
  reason?: 'open' | 'rotate';
  reconnected?: boolean;
  attempt?: number;
  remote?: RemoteAddress;
  handshake?: HandshakeTimings;
  at?: number;
  mono?: number;
}

/** An Error event's payload. */
export interface ErrorPayload {
  code: ErrorCode;
  message: string;
  status?: number;
  headers?: Record<string, string>;
  /** lws's own words for the failure (debug log only). */
  detail?: string;
  syscall?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

// Stamps: `at` is the wall clock (ms since the epoch), `mono` the monotonic
// clock the durations are measured on (lib/stats.ts); both from the service
// thread, when the event happened. Where one is missing, now.

/** An Open event, its fields filled in. */
export interface OpenEvent {
  protocol: string;
  extensions: string;
  headers: Record<string, string>;
  reconnected: boolean;
  attempt: number;
  remote: RemoteAddress;
  handshake: HandshakeTimings;
  at: number;
  mono: number;
}

export function decodeOpen(chunk: Buffer, offset: number, length: number): OpenEvent {
  const p = decodeJson<OpenPayload>(chunk, offset, length);
  return {
    protocol: p.protocol ?? '',
    extensions: p.extensions ?? '',
    headers: p.headers ?? {},
    reconnected: p.reconnected ?? false,
    attempt: p.attempt ?? 0,
    remote: p.remote ?? { address: '', family: 'IPv4', port: 0 },
    handshake: p.handshake ?? { totalMs: 0, dnsMs: 0, tcpMs: 0 },
    at: p.at ?? Date.now(),
    mono: p.mono ?? monoNow(),
  };
}

/** A Disconnect event: what the 'disconnect' event carries, and when on the monotonic clock. */
export function decodeDisconnect(chunk: Buffer, offset: number, length: number): { info: DisconnectInfo; mono: number } {
  const { mono, ...info } = decodeJson<DisconnectInfo & { mono?: number }>(chunk, offset, length);
  return { info, mono: mono ?? monoNow() };
}

/** A Reconnecting event: what the 'reconnecting' event carries, and when. */
export function decodeReconnecting(chunk: Buffer, offset: number, length: number): { info: ReconnectingInfo; at: number } {
  const { at, ...info } = decodeJson<ReconnectingInfo & { at: number }>(chunk, offset, length);
  return { info, at };
}

export type GiveUpEvent = GiveUpInfo & { at: number };

/** A GiveUp event: what the 'giveup' event carries, and the whole event (for the log). */
export function decodeGiveUp(chunk: Buffer, offset: number, length: number): { info: GiveUpInfo; event: GiveUpEvent } {
  const event = decodeJson<GiveUpEvent>(chunk, offset, length);
  const info: GiveUpInfo = { cause: event.cause, reason: event.reason, code: event.code };
  if (event.status !== undefined) info.status = event.status;
  return { info, event };
}
export type GapEvent = { from: number; to: number };
export type StallEvent = { idleMs: number; at: number };
export type RotateEvent = { phase: RotatePhase; at: number };

/** A Close event (the session's end). */
export interface CloseEvent {
  code: number;
  reason: string;
  at: number;
  mono: number;
}

export function decodeClose(chunk: Buffer, offset: number, length: number): CloseEvent {
  const c = decodeJson<{ code: number; reason: string; at?: number; mono?: number }>(chunk, offset, length);
  return { code: c.code, reason: c.reason, at: c.at ?? Date.now(), mono: c.mono ?? monoNow() };
}
