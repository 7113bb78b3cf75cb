// The session's events and what they carry: the public types of
// WebSocketClient's events, and of send()'s arguments.
import type { WebSocketError } from './errors';
import type { HandshakeTimings, RemoteAddress } from './stats';
import type { Cause, DropReason, SessionState } from './wire';

export type Message = { data: string | Buffer; isBinary: boolean };
export interface SendOptions {
  /** Send as a binary message (default: strings as text, bytes as binary). */
  binary?: boolean;
}
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;
/**
 * A rotation: `start` (replacement connecting), `open` (it is up; onOpen runs
 * on it), `switch` (sends move to it; the old one gets Close 1000), `done`
 * (the old one has closed: everything it held was delivered, then the
 * replacement's messages), or `failed` (the old one stays).
 */
export type RotatePhase = 'start' | 'open' | 'switch' | 'done' | 'failed';

export interface OpenInfo {
  /** True for every open after the first. */
  reconnected: boolean;
  /** Time without a connection before this open, ms. */
  downtimeMs: number;
  /** Reconnection attempts it took. */
  attempt: number;
  /** The address connected to (of the addresses the host resolved to, the one that answered first). */
  remote: RemoteAddress;
  /** How long the opening handshake took, by phase. */
  handshake: HandshakeTimings;
}
export interface DisconnectInfo {
  cause: Cause;
  code: number;
  reason: string;
  uptimeMs: number;
  at: number;
  status?: number;
}
export interface ReconnectingInfo {
  attempt: number;
  /** The delay used before the attempt, ms. */
  delayMs: number;
  cause: Cause;
  /** The server's Retry-After header, as sent (refused upgrades only). */
  retryAfter?: string;
  /** What it asked for, ms from then (absent when it was not a number of seconds or an HTTP date). */
  retryAfterMs?: number;
}
export interface GiveUpInfo {
  cause: Cause;
  reason: string;
  code: number;
  status?: number;
}
export interface RedirectInfo {
  /** The URL that answered with the redirect. */
  from: string;
  /** Where the next hop goes. */
  to: string;
  /** 301, 302, 303, 307 or 308. */
  status: number;
  /** Whether `to` is another origin: the hop carries none of the user's headers. */
  crossOrigin: boolean;
}
export interface DropInfo {
  data: Buffer | string;
  isBinary: boolean;
  reason: DropReason;
}

export interface WebSocketClientEvents {
  open: [info: OpenInfo];
  message: [data: string | Buffer, isBinary: boolean];
  close: [code: number, reason: string];
  error: [error: WebSocketError];
  drain: [];
  pong: [data: Buffer];
  ping: [data: Buffer];
  state: [state: SessionState, previous: SessionState];
  disconnect: [info: DisconnectInfo];
  reconnecting: [info: ReconnectingInfo];
  giveup: [info: GiveUpInfo];
  gap: [info: { from: number; to: number }];
  stall: [info: { idleMs: number }];
  rotate: [info: { phase: RotatePhase }];
  drop: [info: DropInfo];
  redirect: [info: RedirectInfo];
}
