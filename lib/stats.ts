// The record of a session: counters and a bounded log of connection events,
// fed by the session's events (whose times come from the service thread, so
// they are right even when the JS thread was blocked when they happened).
import type { Cause, SessionState } from './wire';

// Durations run on the monotonic clock (the service thread's `mono`, and
// monoNow() here: both CLOCK_MONOTONIC), so a stepped wall clock changes
// no uptime or downtime; `at` values stay wall-clock timestamps.
// Downtime is computed here only: an outage runs from a Disconnect's `mono`
// to the next Open's (its length is the open event's downtimeMs), or to
// now while it lasts, or to the Close's when the session ends in it.

/** The monotonic clock in ms: the one the service thread's `mono` stamps use. */
export function monoNow(): number {
  // Whole ms, rounded as the service thread rounds its stamps.
  return Math.round(Number(process.hrtime.bigint()) / 1e6);
}

/** The address a connection was made to (the proxy's when proxied). */
export interface RemoteAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

/** How long a connection's opening handshake took, ms, from the attempt's start. */
export interface HandshakeTimings {
  /** Start to open. */
  totalMs: number;
  /** Name resolution (0 for an IP address). */
  dnsMs: number;
  /** Resolution to TCP connected (the race over the addresses included). */
  tcpMs: number;
  /** TCP connected to TLS established (wss only). */
  tlsMs?: number;
  /** The TLS session was resumed (wss only). */
  tlsResumed?: boolean;
}

export interface DisconnectRecord {
  /** When the connection was lost (ms since the epoch). */
  at: number;
  cause: Cause;
  code: number;
  reason: string;
  /** How long the connection had been up, ms. */
  uptimeMs: number;
  /** How long the outage lasted, ms (undefined while it lasts). */
  durationMs?: number;
}

export interface LogEntry {
  at: number;
  event: 'open' | 'disconnect' | 'reconnecting' | 'giveup' | 'stall' | 'rotate' | 'close' | 'drop' | 'redirect';
  detail: Record<string, unknown>;
}

export interface Stats {
  state: SessionState;
  connects: number;
  reconnects: number;
  disconnects: number;
  disconnectsByCause: Partial<Record<Cause, number>>;
  attempts: number;
  currentUptimeMs: number;
  totalUptimeMs: number;
  totalDowntimeMs: number;
  longestOutageMs: number;
  lastDisconnect?: DisconnectRecord;
  rtt: { lastMs?: number; avgMs?: number; maxMs?: number; samples: number };
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  queueDepth: number;
  queueBytes: number;
  drops: number;
  stalls: number;
  rotations: number;
  /** Address of the current (or last) connection. */
  remote?: RemoteAddress;
  /** Opening handshake of the current (or last) connection. */
  handshake?: HandshakeTimings;
  /** Opens over wss that resumed a TLS session. */
  tlsResumptions: number;
  log: LogEntry[];
}

export class StatsRecorder {
  state: SessionState = 'connecting';
  connects = 0;
  reconnects = 0;
  disconnectsByCause: Partial<Record<Cause, number>> = {};
  attempts = 0;
  openSince = 0;
  downSince = 0;
  uptimeMs = 0;
  downtimeMs = 0;
  longestOutageMs = 0;
  lastDisconnect: DisconnectRecord | undefined;
  rttLast: number | undefined;
  rttSum = 0;
  rttMax = 0;
  rttCount = 0;
  messagesIn = 0;
  bytesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  drops = 0;
  stalls = 0;
  rotations = 0;
  tlsResumptions = 0;
  remote: RemoteAddress | undefined;
  handshake: HandshakeTimings | undefined;
  readonly log: LogEntry[] = [];

  constructor(private readonly logSize: number) {}

  record(at: number, event: LogEntry['event'], detail: Record<string, unknown>): void {
    if (this.logSize === 0) return;
    this.log.push({ at, event, detail });
    if (this.log.length > this.logSize) this.log.splice(0, this.log.length - this.logSize);
  }

  /** `at` on the recorder's clock (monotonic in use). Returns how long the outage it ends lasted (0 for the first open). */
  opened(at: number, reconnected: boolean, remote?: RemoteAddress, handshake?: HandshakeTimings): number {
    const downtimeMs = reconnected && this.downSince ? Math.max(0, at - this.downSince) : 0;
    this.connects++;
    if (remote) this.remote = { ...remote };
    if (handshake) {
      this.handshake = { ...handshake };
      if (handshake.tlsResumed) this.tlsResumptions++;
    }
    if (reconnected) {
      this.reconnects++;
      this.downtimeMs += downtimeMs;
      this.longestOutageMs = Math.max(this.longestOutageMs, downtimeMs);
      if (this.lastDisconnect && this.lastDisconnect.durationMs === undefined) this.lastDisconnect.durationMs = downtimeMs;
    }
    this.openSince = at;
    this.downSince = 0;
    return downtimeMs;
  }

  /** `d.at` is reported; `at` (default d.at) is when, on the recorder's clock. */
  disconnected(d: DisconnectRecord, at = d.at): void {
    this.disconnectsByCause[d.cause] = (this.disconnectsByCause[d.cause] ?? 0) + 1;
    this.uptimeMs += d.uptimeMs;
    this.openSince = 0;
    this.downSince = at;
    this.lastDisconnect = { ...d };
  }

  closed(at: number): void {
    if (this.openSince) this.uptimeMs += at - this.openSince;
    if (this.downSince) {
      // Ended during an outage: it still counts (downtime is a counter).
      const outage = at - this.downSince;
      this.downtimeMs += outage;
      this.longestOutageMs = Math.max(this.longestOutageMs, outage);
      if (this.lastDisconnect && this.lastDisconnect.durationMs === undefined) this.lastDisconnect.durationMs = outage;
    }
    this.openSince = 0;
    this.downSince = 0;
  }

  rtt(ms: number): void {
    this.rttLast = ms;
    this.rttSum += ms;
    this.rttCount++;
    this.rttMax = Math.max(this.rttMax, ms);
  }

  snapshot(queueDepth: number, queueBytes: number, now = monoNow()): Stats {
    const current = this.openSince ? Math.max(0, now - this.openSince) : 0;
    const outage = this.downSince ? Math.max(0, now - this.downSince) : 0;
    const rtt: Stats['rtt'] = { samples: this.rttCount };
    if (this.rttLast !== undefined) {
      rtt.lastMs = this.rttLast;
      rtt.avgMs = Math.round(this.rttSum / this.rttCount);
      rtt.maxMs = this.rttMax;
    }
    const s: Stats = {
      state: this.state,
      connects: this.connects,
      reconnects: this.reconnects,
      disconnects: Object.values(this.disconnectsByCause).reduce((a, b) => a + b, 0),
      disconnectsByCause: { ...this.disconnectsByCause },
      attempts: this.attempts,
      currentUptimeMs: current,
      totalUptimeMs: this.uptimeMs + current,
      totalDowntimeMs: this.downtimeMs + outage,
      longestOutageMs: Math.max(this.longestOutageMs, outage),
      rtt,
      messagesIn: this.messagesIn,
      bytesIn: this.bytesIn,
      messagesOut: this.messagesOut,
      bytesOut: this.bytesOut,
      queueDepth,
      queueBytes,
      drops: this.drops,
      stalls: this.stalls,
      rotations: this.rotations,
      tlsResumptions: this.tlsResumptions,
      log: this.log.map((e) => ({ ...e, detail: { ...e.detail } })),
    };
    if (this.lastDisconnect) s.lastDisconnect = { ...this.lastDisconnect };
    if (this.remote) s.remote = { ...this.remote };
    if (this.handshake) s.handshake = { ...this.handshake };
    return s;
  }
}
