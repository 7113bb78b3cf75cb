// What a session keeps and says of its events: the counters and bounded
// event log of stats() (lib/stats.ts) and its log lines (lib/session-log.ts).
// The client calls it before it emits an event, so a logger reads of an
// event before the listeners get it.
import type { WebSocketError } from './errors';
import type { DisconnectInfo, OpenInfo, ReconnectingInfo, RedirectInfo } from './events';
import type { LogLevel, NativePolicy } from './options/types';
import { SessionLog, type Logger } from './session-log';
import { StatsRecorder, type Stats } from './stats';
import type { CloseEvent, DropReason, GapEvent, GiveUpEvent, OpenEvent, RotateEvent, SessionState, StallEvent } from './wire';

export class SessionRecord {
  readonly #stats: StatsRecorder;
  readonly #log: SessionLog;

  constructor(id: number, url: () => string, logger: Logger | undefined, eventLogSize: number) {
    this.#stats = new StatsRecorder(eventLogSize);
    this.#log = new SessionLog(id, url, logger);
  }

  stats(queueDepth: number, queueBytes: number): Stats {
    return this.#stats.snapshot(queueDepth, queueBytes);
  }

  started(policy: NativePolicy | undefined): void {
    if (!this.#log.enabled) return;
    const hb = policy?.heartbeatIntervalMs ? `${policy.heartbeatIntervalMs}/${policy.heartbeatTimeoutMs} ms` : 'off';
    this.#log.line('info', `started (reconnect ${policy?.reconnect === false ? 'off' : 'on'}, heartbeat ${hb})`);
  }

  state(prev: SessionState, next: SessionState): void {
    this.#log.line('info', `state ${prev} -> ${next}`);
    this.#stats.state = next;
  }

  /** The 'open' event's info: its downtime is the outage's length by the record's clock. */
  opened(o: OpenEvent): OpenInfo {
    const downtimeMs = this.#stats.opened(o.mono, o.reconnected, o.remote, o.handshake);
    const open: OpenInfo = { reconnected: o.reconnected, downtimeMs, attempt: o.attempt, remote: o.remote, handshake: o.handshake };
    this.#stats.record(o.at, 'open', { reconnected: open.reconnected, downtimeMs, attempt: open.attempt, address: open.remote.address });
    if (this.#log.enabled) {
      this.#log.line(
        'info',
        `open${open.reconnected ? ` again after ${downtimeMs} ms down` : ''} (attempt ${open.attempt}` +
          `${o.protocol ? `, protocol ${o.protocol}` : ''}${o.extensions ? `, ${o.extensions}` : ''})`,
      );
    }
    return open;
  }

  received(bytes: number): void {
    this.#stats.messagesIn++;
    this.#stats.bytesIn += bytes;
  }

  /** Written to the socket (drops already taken out). */
  written(bytes: number, messages: number): void {
    this.#stats.bytesOut += bytes;
    this.#stats.messagesOut += messages;
  }

  rtt(ms: number): void {
    this.#stats.rtt(ms);
  }

  failed(err: WebSocketError, detail: string | undefined): void {
    if (this.#log.enabled) this.#log.line('warn', `error ${err.code}: ${err.message}${detail ? ` (lws: ${detail})` : ''}`);
  }

  disconnected(d: DisconnectInfo, mono: number): void {
    this.#stats.disconnected({ at: d.at, cause: d.cause, code: d.code, reason: d.reason, uptimeMs: d.uptimeMs }, mono);
    this.#stats.record(d.at, 'disconnect', { ...d });
    this.#log.line('warn', `disconnected: cause ${d.cause}, code ${d.code}${d.reason ? ` (${d.reason})` : ''}, up ${d.uptimeMs} ms`);
  }

  reconnecting(r: ReconnectingInfo, at: number): void {
    this.#stats.attempts++;
    this.#stats.record(at, 'reconnecting', { ...r });
    this.#log.line(
      'info',
      `reconnecting: attempt ${r.attempt} in ${r.delayMs} ms (cause ${r.cause}` +
        `${r.retryAfter !== undefined ? `, Retry-After ${JSON.stringify(r.retryAfter)}` : ''})`,
    );
  }

  gaveUp(g: GiveUpEvent): void {
    this.#stats.record(g.at, 'giveup', { ...g });
    this.#log.line('error', `gave up: ${g.reason} (cause ${g.cause}, code ${g.code}${g.status ? `, HTTP ${g.status}` : ''})`);
  }

  gap(g: GapEvent): void {
    this.#log.line('info', `gap: messages sent by the server between ${new Date(g.from).toISOString()} and ${new Date(g.to).toISOString()} may be missing`);
  }

  stalled(s: StallEvent): void {
    this.#stats.stalls++;
    this.#stats.record(s.at, 'stall', { idleMs: s.idleMs });
    this.#log.line('warn', `stall: no message for ${s.idleMs} ms`);
  }

  rotated(r: RotateEvent): void {
    if (r.phase === 'switch') this.#stats.rotations++;
    this.#stats.record(r.at, 'rotate', { phase: r.phase });
    this.#log.line('info', `rotation: ${r.phase}`);
  }

  dropped(reason: DropReason, bytes: number, isBinary: boolean): void {
    this.#stats.drops++;
    this.#stats.record(Date.now(), 'drop', { reason, bytes });
    this.#log.line('warn', `dropped a ${isBinary ? 'binary' : 'text'} message of ${bytes} bytes (${reason})`);
  }

  redirected(info: RedirectInfo): void {
    this.#stats.record(Date.now(), 'redirect', { ...info });
    this.#log.line('info', `redirect ${info.status} to ${info.to}${info.crossOrigin ? ' (another origin: no user headers)' : ''}`);
  }

  /** The session ended: the uptime or the outage stops here. */
  closed(c: CloseEvent): void {
    this.#stats.closed(c.mono);
    this.#stats.record(c.at, 'close', { code: c.code, reason: c.reason });
    this.#log.line('info', `closed: code ${c.code}${c.reason ? ` (${c.reason})` : ''}`);
  }

  /** An lws line about one of the session's connections. */
  lws(level: LogLevel, line: string): void {
    this.#log.lws(level, line);
  }
}
