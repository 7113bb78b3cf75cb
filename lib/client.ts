// WebSocketClient: one session, kept up across connections by the native
// service thread. This file is the public API and turns the session's events
// into emitted ones; the decisions (heartbeat, reconnect, stall, rotation,
// queue bounds) are taken natively, so they happen while the JS thread is
// busy. Beside it: wire.ts decodes the events, session-record.ts keeps
// stats() and the log lines, outgoing.ts bufferedAmount and the send()
// callbacks, payload.ts checks what is sent, hooks.ts runs the JS hooks.
import { RecentAttempts } from './attempts';
import { checkCloseArgs } from './close-codes';
import { UNHEARD_ERROR_WARNING, WebSocketError, typeError, warnUnheard } from './errors';
import { native, type EventSink } from './dispatch';
import type { LogLevel, ResolvedOptions } from './options/types';
import { Outgoing } from './outgoing';
import { controlPayload, messagePayload } from './payload';
import {
  decodeClose, decodeDisconnect, decodeDrop, decodeGiveUp, decodeJson, decodeOpen, decodeReconnecting, decodeState, EventType,
  type ErrorPayload, type GapEvent, type RotateEvent, type StallEvent,
  type Cause, type SessionState,
} from './wire';
import type { SendCallback } from './send-callbacks';
import { SessionRecord } from './session-record';
import { toPrometheus } from './metrics';
import type { Stats } from './stats';
import { TypedEventEmitter } from './typed-emitter';
import type {
  DisconnectInfo, DropInfo, GiveUpInfo, Message, OpenInfo, ReconnectingInfo, RedirectInfo, RotatePhase, SendData, SendOptions,
  WebSocketClientEvents,
} from './events';
import { Dedupe } from './dedupe';
import { runHook, type HookHost, type SessionSetup } from './hooks';
import { messagesOf } from './messages';

export type {
  DisconnectInfo, DropInfo, GiveUpInfo, Message, OpenInfo, ReconnectingInfo, RedirectInfo, RotatePhase, SendData, SendOptions,
  WebSocketClientEvents,
};
export type { SendCallback, SessionSetup };
export type { SessionState, Cause };

/** @internal The key of WebSocketClient's close without a status code (for the WebSocket class). */
export const CLOSE_WITHOUT_CODE = Symbol('close without a status code');

export { UNHEARD_ERROR_WARNING };

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;
export type ReadyState = 0 | 1 | 2 | 3;

const READY: Record<SessionState, ReadyState> = { connecting: 0, open: 1, reconnecting: 0, closing: 2, closed: 3 };

export class WebSocketClient extends TypedEventEmitter<WebSocketClientEvents> implements EventSink {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;

  /** The URL connected to (of the latest attempt when the url is a function). */
  url: string;
  /** Settles on the first open, or rejects with the failure that ended the session before it. */
  readonly opened: Promise<void>;

  #id: number;
  #state: SessionState = 'connecting';
  #protocol = '';
  #extensions = '';
  #headers: Record<string, string> = {};
  #referenced = true;
  #holding = false;
  #userClosed = false;
  #warned = false;
  readonly #record: SessionRecord;
  readonly #outgoing: Outgoing;
  #unlistenAbort: (() => void) | undefined;
  #aborted: WebSocketError | undefined;
  #lastError: WebSocketError | undefined;
  #closed: Promise<void>;
  #resolveOpened!: () => void;
  #rejectOpened!: (e: Error) => void;
  #resolveClosed!: () => void;
  #dedupe: Dedupe | undefined;
  readonly #host: HookHost;
  readonly #options: ResolvedOptions;
  readonly #setup: SessionSetup;
  readonly #attempts = new RecentAttempts();

  /** @internal use connect() */
  constructor(setup: SessionSetup) {
    super();
    this.#setup = setup;
    this.#options = setup.initial;
    this.url = setup.initial.url.href;
    this.#outgoing = new Outgoing({ ...setup, highWaterMark: this.#options.highWaterMark, lowWaterMark: this.#options.lowWaterMark });
    this.opened = new Promise<void>((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    // Users who never await `opened` learn of failures through events.
    this.opened.catch(() => undefined);
    this.#closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
    if (setup.user.dedupeKey) this.#dedupe = new Dedupe(setup.user.dedupeKey);
    if (this.#options.logger) native.countLogger(true);
    this.#id = native.connect({ ...this.#options.native }, this.#options.trust, this);
    this.#record = new SessionRecord(this.#id, () => this.url, this.#options.logger, setup.eventLogSize);
    this.#host = this.#hookHost();
    this.#record.started(this.#options.native.policy);
    this.#hold(true);
    const signal = setup.user.signal;
    if (signal) {
      const onAbort = (): void => this.#abort(signal.reason);
      if (signal.aborted) {
        onAbort();
      } else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.#unlistenAbort = () => signal.removeEventListener('abort', onAbort);
      }
    }
  }

  /** The `signal` option fired: end the session as close() does; `opened` rejects with ERR_ABORTED. */
  #abort(reason: unknown): void {
    if (this.#state === 'closed' || this.#userClosed) return;
    this.#aborted = new WebSocketError('ERR_ABORTED', 'the session was aborted', { url: this.url, cause: reason });
    this.#lastError = this.#aborted;
    void this.close(1000);
  }

  get readyState(): ReadyState {
    return READY[this.#state];
  }
  /** connecting, open, reconnecting, closing or closed. */
  get state(): SessionState {
    return this.#state;
  }
  /** The subprotocol the server selected ('' if none). */
  get protocol(): string {
    return this.#protocol;
  }
  /** The extensions the server accepted, as in `Sec-WebSocket-Extensions`. */
  get extensions(): string {
    return this.#extensions;
  }
  /** Response headers of the opening handshake (lower-case names). */
  get handshakeHeaders(): Readonly<Record<string, string>> {
    return this.#headers;
  }
  /** Bytes given to send() and not yet written to a socket (or dropped). */
  get bufferedAmount(): number {
    return this.#outgoing.bytes;
  }
  /** The most recent connection error. */
  get lastError(): WebSocketError | undefined {
    return this.#lastError;
  }

  /**
   * Queues a message. While not open it waits in the outgoing queue (bounded
   * by `queue`) and is sent in order after the next open. Returns false when
   * bufferedAmount is above highWaterMark: the message is still queued;
   * wait for 'drain' before sending more. `cb` is called once the message
   * was written to the socket, or with an error when it was dropped instead
   * (ERR_MESSAGE_DROPPED) or the session ended first (ERR_NOT_OPEN).
   */
  send(data: SendData, cb?: SendCallback): boolean;
  send(data: SendData, options: SendOptions, cb?: SendCallback): boolean;
  send(data: SendData, optionsOrCb?: SendOptions | SendCallback, callback?: SendCallback): boolean {
    const options = typeof optionsOrCb === 'function' || optionsOrCb === undefined ? {} : optionsOrCb;
    const cb = typeof optionsOrCb === 'function' ? optionsOrCb : callback;
    if (cb !== undefined && typeof cb !== 'function') {
      throw typeError('ERR_INVALID_ARG_TYPE', 'send() callback must be a function');
    }
    if (this.#userClosed || this.#state === 'closed' || this.#state === 'closing') {
      throw new WebSocketError('ERR_NOT_OPEN', `send() after close (state ${this.#state})`, { url: this.url });
    }
    const { payload, binary, size } = messagePayload(data, options);
    const out = this.#outgoing;
    if (this.#state !== 'open' && out.refuses(size)) {
      throw new WebSocketError(
        'ERR_QUEUE_FULL',
        `the outgoing queue is full (${out.messages} messages, ${out.bytes} bytes) while ${this.#state}`,
        { url: this.url },
      );
    }
    const belowHighWater = out.queued(size, cb);
    native.send(this.#id, payload, binary);
    return belowHighWater;
  }

  /** Sends a Ping (payload at most 125 bytes). */
  ping(data: string | Buffer | ArrayBuffer | ArrayBufferView = Buffer.alloc(0)): void {
    native.ping(this.#id, this.#controlPayload('ping', data));
  }

  /**
   * Sends a Pong (payload at most 125 bytes): an unsolicited one, or with
   * `autoPong: false` the answer to a 'ping'.
   */
  pong(data: string | Buffer | ArrayBuffer | ArrayBufferView = Buffer.alloc(0)): void {
    native.pong(this.#id, this.#controlPayload('pong', data));
  }

  #controlPayload(method: 'ping' | 'pong', data: unknown): Buffer {
    const bytes = controlPayload(method, data);
    if (this.#state !== 'open') {
      throw new WebSocketError('ERR_NOT_OPEN', `${method}() needs an open connection`, { url: this.url });
    }
    return bytes;
  }

  /**
   * Ends the session: writes what is queued, runs the closing handshake and
   * resolves once closed. No reconnection follows. Before an open (or while
   * reconnecting), ends at once with 1006.
   */
  close(code = 1000, reason: string | Buffer = ''): Promise<void> {
    return this.#close(code, checkCloseArgs(code, reason));
  }

  /** @internal The WebSocket class's close() without a code: a Close frame without a body (reported as 1005). */
  [CLOSE_WITHOUT_CODE](): Promise<void> {
    return this.#close(1005, Buffer.alloc(0));
  }

  #close(code: number, bytes: Buffer): Promise<void> {
    if (this.#state === 'closed' || this.#userClosed) return this.#closed;
    this.#userClosed = true;
    this.#setState('closing');
    native.close(this.#id, code, bytes);
    return this.#closed;
  }

  /** Drops the connection at once, without a closing handshake, and ends the session. */
  terminate(): void {
    if (this.#state === 'closed') return;
    this.#userClosed = true;
    this.#setState('closing');
    native.terminate(this.#id);
  }

  /** Lets the process exit while this session is alive (as net.Socket). */
  unref(): this {
    this.#referenced = false;
    this.#hold(false);
    return this;
  }
  ref(): this {
    this.#referenced = true;
    if (this.#state !== 'closed') this.#hold(true);
    return this;
  }

  /** Counters, timings and a bounded log of connection events. */
  stats(): Stats {
    return this.#record.stats(this.#outgoing.messages, this.#outgoing.bytes);
  }

  /** stats() in the Prometheus text exposition format. */
  metrics(labels: Record<string, string> = { url: this.url }): string {
    return toPrometheus(this.stats(), labels);
  }

  /** The messages from the first next() on, until the session closes. */
  [Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
    return messagesOf(this, () => this.#state === 'closed');
  }

  #hold(on: boolean): void {
    const want = on && this.#referenced && this.#state !== 'closed';
    if (want === this.#holding) return;
    this.#holding = want;
    native.hold(want);
  }

  #setState(next: SessionState): void {
    const prev = this.#state;
    if (next === prev) return;
    this.#record.state(prev, next);
    this.#state = next;
    if (next === 'closed') this.#hold(false);
    this.emit('state', next, prev);
  }

  /** What the hooks (lib/hooks.ts) may see and change of this session. */
  #hookHost(): HookHost {
    return {
      id: this.#id,
      setup: this.#setup,
      url: () => this.url,
      setUrl: (url) => {
        this.url = url;
      },
      attempts: this.#attempts,
      redirected: (info) => {
        this.#record.redirected(info);
        this.emit('redirect', info);
      },
      failed: (error) => {
        this.#lastError = error;
      },
      queued: (size) => this.#outgoing.queuedPriority(size),
    };
  }

  #deliver(data: string | Buffer, isBinary: boolean, bytes: number): void {
    this.#record.received(bytes);
    // Both connections delivered it during a rotation's overlap.
    if (this.#dedupe?.isCopy(data, isBinary)) return;
    this.emit('message', data, isBinary);
  }

  /** @internal */
  onLwsLog(level: LogLevel, line: string): void {
    this.#record.lws(level, line);
  }

  /** @internal */
  onNativeEvent(type: EventType, value: number, chunk: Buffer, offset: number, length: number): void {
    switch (type) {
      case EventType.Text:
        this.#deliver(
          this.#options.textAsBuffer ? chunk.subarray(offset, offset + length) : chunk.toString('utf8', offset, offset + length),
          false,
          length,
        );
        return;
      case EventType.Binary:
        this.#deliver(chunk.subarray(offset, offset + length), true, length);
        return;
      case EventType.Sent:
        this.#sent(value, offset, length);
        return;
      case EventType.State: {
        const next = decodeState(value);
        // After close(), only 'closed' may follow 'closing'.
        if (this.#userClosed && next !== 'closed') return;
        this.#setState(next);
        return;
      }
      case EventType.Open: {
        const o = decodeOpen(chunk, offset, length);
        this.#protocol = o.protocol;
        this.#extensions = o.extensions;
        this.#headers = o.headers;
        const open = this.#record.opened(o);
        this.#resolveOpened();
        this.emit('open', open);
        return;
      }
      case EventType.Ping:
        this.emit('ping', Buffer.from(chunk.subarray(offset, offset + length)));
        return;
      case EventType.Pong:
        if (value >= 0) this.#record.rtt(Math.round(value));
        else this.emit('pong', Buffer.from(chunk.subarray(offset, offset + length)));
        return;
      case EventType.Error: {
        const payload = decodeJson<ErrorPayload>(chunk, offset, length);
        const err = this.#attempts.error(payload, value, this.url);
        this.#lastError = err;
        this.#record.failed(err, payload.detail);
        // Without listeners: a process warning, the first time (lib/errors.ts).
        if (this.listenerCount('error') > 0) this.emit('error', err);
        else if (!this.#warned) {
          this.#warned = true;
          warnUnheard(err, this.url);
        }
        return;
      }
      case EventType.Disconnect: {
        const { info, mono } = decodeDisconnect(chunk, offset, length);
        this.#dedupe?.window(false);
        this.#record.disconnected(info, mono);
        this.emit('disconnect', info);
        return;
      }
      case EventType.Reconnecting: {
        const { info, at } = decodeReconnecting(chunk, offset, length);
        this.#record.reconnecting(info, at);
        this.emit('reconnecting', info);
        return;
      }
      case EventType.GiveUp: {
        const { info, event } = decodeGiveUp(chunk, offset, length);
        this.#record.gaveUp(event);
        this.emit('giveup', info);
        return;
      }
      case EventType.Gap: {
        const g = decodeJson<GapEvent>(chunk, offset, length);
        this.#record.gap(g);
        this.emit('gap', g);
        return;
      }
      case EventType.Stall: {
        const s = decodeJson<StallEvent>(chunk, offset, length);
        this.#record.stalled(s);
        this.emit('stall', { idleMs: s.idleMs });
        return;
      }
      case EventType.Rotate: {
        const r = decodeJson<RotateEvent>(chunk, offset, length);
        this.#dedupe?.rotation(r.phase);
        this.#record.rotated(r);
        this.emit('rotate', { phase: r.phase });
        return;
      }
      case EventType.Drop: {
        const { isBinary, reason, priority } = decodeDrop(value);
        const bytes = Buffer.from(chunk.subarray(offset, offset + length));
        const cb = this.#outgoing.dropped(reason, length, priority);
        cb?.(new WebSocketError('ERR_MESSAGE_DROPPED', `the message was not sent: dropped (${reason})`, { url: this.url }));
        this.#record.dropped(reason, bytes.length, isBinary);
        this.emit('drop', { data: isBinary ? bytes : bytes.toString('utf8'), isBinary, reason });
        return;
      }
      case EventType.NeedConfig:
      case EventType.Decide:
      case EventType.OnOpen:
      case EventType.NeedLookup:
        runHook(this.#host, type, value, chunk, offset, length);
        return;
      case EventType.Close: {
        const c = decodeClose(chunk, offset, length);
        this.#setState('closed');
        this.#record.closed(c);
        this.#hold(false);
        this.#unlistenAbort?.();
        if (this.#options.logger) native.countLogger(false);
        this.#rejectOpened(
          this.#aborted ?? this.#lastError ?? new WebSocketError('ERR_CLOSED_BEFORE_OPEN', 'closed before opening', { url: this.url }),
        );
        this.#resolveClosed();
        for (const cb of this.#outgoing.ended()) {
          cb(new WebSocketError('ERR_NOT_OPEN', 'the session ended before the message was sent', { url: this.url }));
        }
        this.emit('close', c.code, c.reason);
        return;
      }
      default:
        return;
    }
  }

  /** `messages` completed (`priority` of them onOpen's), some of them drops reported just before. */
  #sent(bytes: number, messages: number, priority: number): void {
    const written = this.#outgoing.sent(bytes, messages, priority);
    this.#record.written(written.bytes, written.messages);
    for (const cb of written.callbacks) cb();
    if (this.#outgoing.drainDue()) this.emit('drain');
  }
}
