// The wire contract with the addon (native/wire.h):
// event types, the lists whose index is their number on the wire, the event
// index's layout, and typed decoders of event values and payloads.
// test/wire.test.ts compares every list here with the binding's constants().
import type { ErrorCode } from './errors';
import type { HandshakeTimings, RemoteAddress } from './stats';

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
  downtimeMs?: number;
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
