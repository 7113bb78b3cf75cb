// WebSocketClient: one session, kept up across connections by the native
// service thread. This file turns the session's events into the public API;
// the decisions (heartbeat, reconnect, stall, rotation, queue bounds) are
// taken natively, so they happen while the JS thread is busy.
import { isUtf8 as isUtf8Buffer } from 'node:buffer';
import { checkCloseArgs } from './close-codes';
import { WebSocketError, typeError, type ErrorDetails } from './errors';
import { native, type EventSink } from './dispatch';
import type { ConnectOptions, LogLevel, ReconnectInfo, ResolvedOptions } from './options/types';
import type { RedirectRequest } from './redirect';
import { decodeDrop, decodeJson, decodeState, EventType, type ErrorPayload, type OpenPayload, type Cause, type OverflowPolicy, type SessionState } from './wire';
import { SendCallbacks, type SendCallback } from './send-callbacks';
import { SessionLog } from './session-log';
import { monoNow, StatsRecorder, toPrometheus, type Stats } from './stats';
import { TypedEventEmitter } from './typed-emitter';
import type {
  DisconnectInfo, DropInfo, GiveUpInfo, Message, OpenInfo, ReconnectingInfo, RedirectInfo, RotatePhase, SendData, SendOptions,
  WebSocketClientEvents,
} from './events';
import { Dedupe } from './dedupe';
import { configure, decide, lookup, redirect, runOnOpen, type HookHost } from './hooks';

export type {
  DisconnectInfo, DropInfo, GiveUpInfo, Message, OpenInfo, ReconnectingInfo, RedirectInfo, RotatePhase, SendData, SendOptions,
  WebSocketClientEvents,
};
export type { SendCallback };
export type { SessionState, Cause };

/** @internal The key of WebSocketClient's close without a status code (for the WebSocket class). */
export const CLOSE_WITHOUT_CODE = Symbol('close without a status code');

/** The code of the process warning for a failure nobody listened to. */
export const UNHEARD_ERROR_WARNING = 'NLWS_UNHANDLED_ERROR';

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;
export type ReadyState = 0 | 1 | 2 | 3;

const READY: Record<SessionState, ReadyState> = { connecting: 0, open: 1, reconnecting: 0, closing: 2, closed: 3 };
// Options of the latest attempts configured here (url/headers functions,
// redirect hops), by attempt: a redirect starts from the redirected
// attempt's, and errors name its URL. Only one attempt is in its opening
// handshake at a time, so a few suffice.
const ATTEMPTS_KEPT = 8;


/** How a session gets the url/headers of each attempt, and its hooks. */
export interface SessionSetup {
  /** The first attempt's options when they are static (else computed per attempt). */
  initial: ResolvedOptions;
  /** Computes the options of one attempt (url/headers functions). */
  configure?: () => Promise<ResolvedOptions>;
  configTimeoutMs: number;
  overflow: OverflowPolicy;
  queueMaxMessages: number;
  queueMaxBytes: number;
  /** Connection events kept in stats().log. */
  eventLogSize: number;
  user: ConnectOptions;
}

function toBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}



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
  #buffered = 0;
  #bufferedCount = 0;
  #needDrain = false;
  #referenced = true;
  #holding = false;
  #userClosed = false;
  #warned = false;
  #log!: SessionLog;
  readonly #callbacks = new SendCallbacks();
  // Drops the next Sent event counts as written (the service thread reports them so).
  #droppedUncounted = 0;
  #droppedBytesUncounted = 0;
  #unlistenAbort: (() => void) | undefined;
  #aborted: WebSocketError | undefined;
  #lastError: WebSocketError | undefined;
  #closed: Promise<void>;
  #resolveOpened!: () => void;
  #rejectOpened!: (e: Error) => void;
  #resolveClosed!: () => void;
  #stats: StatsRecorder;
  #dedupe: Dedupe | undefined;
  readonly #host: HookHost;
  readonly #options: ResolvedOptions;
  readonly #setup: SessionSetup;
  readonly #attempts = new Map<number, { options: ResolvedOptions; refused?: WebSocketError }>();

  /** @internal use connect() */
  constructor(setup: SessionSetup) {
    super();
    this.#setup = setup;
    this.#options = setup.initial;
    this.url = setup.initial.url.href;
    this.#stats = new StatsRecorder(setup.eventLogSize);
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
    this.#log = new SessionLog(this.#id, () => this.url, this.#options.logger);
    this.#host = this.#hookHost();
    if (this.#log.enabled) {
      const p = this.#options.native.policy;
      this.#log.line(
        'info',
        `started (reconnect ${p?.reconnect === false ? 'off' : 'on'}, heartbeat ${p?.heartbeatIntervalMs ? `${p.heartbeatIntervalMs}/${p.heartbeatTimeoutMs} ms` : 'off'})`,
      );
    }
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
    return this.#buffered;
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
    const { payload, binary, size } = this.#prepare(data, options);
    if (this.#state !== 'open' && this.#setup.overflow === 'reject') {
      if (this.#bufferedCount + 1 > this.#setup.queueMaxMessages || this.#buffered + size > this.#setup.queueMaxBytes) {
        throw new WebSocketError(
          'ERR_QUEUE_FULL',
          `the outgoing queue is full (${this.#bufferedCount} messages, ${this.#buffered} bytes) while ${this.#state}`,
          { url: this.url },
        );
      }
    }
    this.#buffered += size;
    this.#bufferedCount++;
    this.#callbacks.add(cb);
    native.send(this.#id, payload, binary);
    if (this.#buffered > this.#options.highWaterMark) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  #prepare(data: SendData, options: SendOptions): { payload: string | Uint8Array; binary: boolean; size: number } {
    if (typeof options !== 'object' || options === null) {
      throw typeError('ERR_INVALID_ARG_TYPE', 'send() options must be an object');
    }
    const given = options.binary as unknown;
    if (given !== undefined && typeof given !== 'boolean') {
      throw typeError('ERR_INVALID_ARG_TYPE', 'send() option binary must be a boolean');
    }
    if (typeof data === 'string') {
      return { payload: data, binary: given === true, size: Buffer.byteLength(data) };
    }
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      const payload = toBytes(data);
      const binary = given !== false;
      if (!binary && !isUtf8Buffer(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength))) {
        throw typeError('ERR_INVALID_UTF8', 'a text message must be valid UTF-8');
      }
      return { payload, binary, size: payload.byteLength };
    }
    throw typeError('ERR_INVALID_ARG_TYPE', 'send() takes a string, Buffer, ArrayBuffer or ArrayBufferView');
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
    let bytes: Buffer;
    if (typeof data === 'string') bytes = Buffer.from(data);
    else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) bytes = Buffer.from(toBytes(data));
    else throw typeError('ERR_INVALID_ARG_TYPE', `${method}() takes a string, Buffer, ArrayBuffer or ArrayBufferView`);
    if (bytes.length > 125) throw typeError('ERR_INVALID_ARG_VALUE', `${method} payload is limited to 125 bytes`);
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
    return this.#stats.snapshot(this.#bufferedCount, this.#buffered);
  }

  /** stats() in the Prometheus text exposition format. */
  metrics(labels: Record<string, string> = { url: this.url }): string {
    return toPrometheus(this.stats(), labels);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
    const queue: Message[] = [];
    let done = this.#state === 'closed';
    let wake: (() => void) | undefined;
    const onMessage = (data: string | Buffer, isBinary: boolean): void => {
      queue.push({ data, isBinary });
      wake?.();
    };
    const onClose = (): void => {
      done = true;
      wake?.();
    };
    this.on('message', onMessage);
    this.on('close', onClose);
    try {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (done) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      this.off('message', onMessage);
      this.off('close', onClose);
    }
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
    this.#log.line('info', `state ${prev} -> ${next}`);
    this.#state = next;
    this.#stats.state = next;
    if (next === 'closed') this.#hold(false);
    this.emit('state', next, prev);
  }

  #error(info: ErrorPayload, attempt: number): WebSocketError {
    const known = this.#attempts.get(attempt);
    // A redirect refused here: the error built then, with its cause.
    if (known?.refused && known.refused.code === info.code) return known.refused;
    // The URL of the attempt that failed (a redirect's target on a hop).
    const url = known ? known.options.url.href : this.url;
    const details: ErrorDetails = { url };
    if (info.status !== undefined) details.status = info.status;
    if (info.headers !== undefined) details.headers = info.headers;
    if (info.syscall !== undefined) {
      // A system error: Node's wording (`connect ECONNREFUSED 127.0.0.1:9`) and fields.
      details.syscall = info.syscall;
      if (info.address !== undefined) details.address = info.address;
      if (info.port !== undefined) details.port = info.port;
      if (info.hostname !== undefined) details.hostname = info.hostname;
    }
    // The message says what failed, as Node's and ws's do; `url` says where.
    return new WebSocketError(info.code, info.message, details);
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
      attemptOptions: (attempt) => this.#attempts.get(attempt)?.options,
      remember: (attempt, entry) => this.#remember(attempt, entry),
      redirected: (info) => {
        this.#stats.record(Date.now(), 'redirect', { ...info });
        this.#log.line('info', `redirect ${info.status} to ${info.to}${info.crossOrigin ? ' (another origin: no user headers)' : ''}`);
        this.emit('redirect', info);
      },
      failed: (error) => {
        this.#lastError = error;
      },
      prepare: (data, options) => this.#prepare(data, options),
      queued: (size) => {
        this.#buffered += size;
        this.#bufferedCount++;
      },
    };
  }

  #remember(attempt: number, entry: { options: ResolvedOptions; refused?: WebSocketError }): void {
    this.#attempts.set(attempt, entry);
    if (this.#attempts.size > ATTEMPTS_KEPT) this.#attempts.delete(this.#attempts.keys().next().value as number);
  }

  #deliver(data: string | Buffer, isBinary: boolean, bytes: number): void {
    this.#stats.messagesIn++;
    this.#stats.bytesIn += bytes;
    // Both connections delivered it during a rotation's overlap.
    if (this.#dedupe?.isCopy(data, isBinary)) return;
    this.emit('message', data, isBinary);
  }

  /** @internal */
  onLwsLog(level: LogLevel, line: string): void {
    this.#log.lws(level, line);
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
        const info = decodeJson<OpenPayload>(chunk, offset, length);
        this.#protocol = info.protocol ?? '';
        this.#extensions = info.extensions ?? '';
        this.#headers = info.headers ?? {};
        const open: OpenInfo = {
          reconnected: info.reconnected ?? false,
          downtimeMs: info.downtimeMs ?? 0,
          attempt: info.attempt ?? 0,
          remote: info.remote ?? { address: '', family: 'IPv4', port: 0 },
          handshake: info.handshake ?? { totalMs: 0, dnsMs: 0, tcpMs: 0 },
        };
        this.#stats.opened(info.mono ?? monoNow(), open.reconnected, open.downtimeMs, open.remote, open.handshake);
        this.#stats.record(info.at ?? Date.now(), 'open', {
          reconnected: open.reconnected,
          downtimeMs: open.downtimeMs,
          attempt: open.attempt,
          address: open.remote.address,
        });
        if (this.#log.enabled) {
          this.#log.line(
            'info',
            `open${open.reconnected ? ` again after ${open.downtimeMs} ms down` : ''} (attempt ${open.attempt}` +
              `${this.#protocol ? `, protocol ${this.#protocol}` : ''}${this.#extensions ? `, ${this.#extensions}` : ''})`,
          );
        }
        this.#resolveOpened();
        this.emit('open', open);
        return;
      }
      case EventType.Ping:
        this.emit('ping', Buffer.from(chunk.subarray(offset, offset + length)));
        return;
      case EventType.Pong:
        if (value >= 0) this.#stats.rtt(Math.round(value));
        else this.emit('pong', Buffer.from(chunk.subarray(offset, offset + length)));
        return;
      case EventType.Error: {
        const payload = decodeJson<ErrorPayload>(chunk, offset, length);
        const err = this.#error(payload, value);
        this.#lastError = err;
        if (this.#log.enabled) {
          this.#log.line('warn', `error ${err.code}: ${err.message}${payload.detail ? ` (lws: ${payload.detail})` : ''}`);
        }
        // Unlike ws, an 'error' without listeners does not throw: failures
        // of long-lived connections are expected, and the session goes on.
        // But it is not silent either: the first one becomes a process
        // warning (stderr by default), once per session.
        if (this.listenerCount('error') > 0) this.emit('error', err);
        else this.#warnUnheard(err);
        return;
      }
      case EventType.Disconnect: {
        const { mono, ...d } = decodeJson<DisconnectInfo & { mono?: number }>(chunk, offset, length);
        this.#dedupe?.window(false);
        this.#stats.disconnected({ at: d.at, cause: d.cause, code: d.code, reason: d.reason, uptimeMs: d.uptimeMs }, mono ?? monoNow());
        this.#stats.record(d.at, 'disconnect', { ...d });
        this.#log.line('warn', `disconnected: cause ${d.cause}, code ${d.code}${d.reason ? ` (${d.reason})` : ''}, up ${d.uptimeMs} ms`);
        this.emit('disconnect', d);
        return;
      }
      case EventType.Reconnecting: {
        const { at, ...r } = decodeJson<ReconnectingInfo & { at: number }>(chunk, offset, length);
        this.#stats.attempts++;
        this.#stats.record(at, 'reconnecting', { ...r });
        this.#log.line(
          'info',
          `reconnecting: attempt ${r.attempt} in ${r.delayMs} ms (cause ${r.cause}` +
            `${r.retryAfter !== undefined ? `, Retry-After ${JSON.stringify(r.retryAfter)}` : ''})`,
        );
        this.emit('reconnecting', r);
        return;
      }
      case EventType.GiveUp: {
        const g = decodeJson<GiveUpInfo & { at: number }>(chunk, offset, length);
        this.#stats.record(g.at, 'giveup', { ...g });
        this.#log.line('error', `gave up: ${g.reason} (cause ${g.cause}, code ${g.code}${g.status ? `, HTTP ${g.status}` : ''})`);
        const info: GiveUpInfo = { cause: g.cause, reason: g.reason, code: g.code };
        if (g.status !== undefined) info.status = g.status;
        this.emit('giveup', info);
        return;
      }
      case EventType.Gap: {
        const g = decodeJson<{ from: number; to: number }>(chunk, offset, length);
        this.#log.line('info', `gap: messages sent by the server between ${new Date(g.from).toISOString()} and ${new Date(g.to).toISOString()} may be missing`);
        this.emit('gap', g);
        return;
      }
      case EventType.Stall: {
        const s = decodeJson<{ idleMs: number; at: number }>(chunk, offset, length);
        this.#stats.stalls++;
        this.#stats.record(s.at, 'stall', { idleMs: s.idleMs });
        this.#log.line('warn', `stall: no message for ${s.idleMs} ms`);
        this.emit('stall', { idleMs: s.idleMs });
        return;
      }
      case EventType.Rotate: {
        const r = decodeJson<{ phase: RotatePhase; at: number }>(chunk, offset, length);
        if (r.phase === 'start') this.#dedupe?.window(true);
        if (r.phase === 'done') this.#dedupe?.trail();
        if (r.phase === 'failed') this.#dedupe?.window(false);
        if (r.phase === 'switch') this.#stats.rotations++;
        this.#stats.record(r.at, 'rotate', { phase: r.phase });
        this.#log.line('info', `rotation: ${r.phase}`);
        this.emit('rotate', { phase: r.phase });
        return;
      }
      case EventType.Drop: {
        const { isBinary, reason, priority } = decodeDrop(value);
        const bytes = Buffer.from(chunk.subarray(offset, offset + length));
        // The Sent event that follows counts it as written: it was not.
        this.#droppedUncounted += 1;
        this.#droppedBytesUncounted += length;
        if (!priority) {
          // A queued send(): overflow under 'drop-newest' and 'reject' takes the newest, the rest the oldest.
          const newest = reason === 'overflow' && this.#setup.overflow !== 'drop-oldest';
          const cb = newest ? this.#callbacks.droppedBack() : this.#callbacks.droppedFront();
          cb?.(new WebSocketError('ERR_MESSAGE_DROPPED', `the message was not sent: dropped (${reason})`, { url: this.url }));
        }
        this.#stats.drops++;
        this.#stats.record(Date.now(), 'drop', { reason, bytes: bytes.length });
        this.#log.line('warn', `dropped a ${isBinary ? 'binary' : 'text'} message of ${bytes.length} bytes (${reason})`);
        this.emit('drop', { data: isBinary ? bytes : bytes.toString('utf8'), isBinary, reason });
        return;
      }
      case EventType.NeedConfig:
        if (length > 0) redirect(this.#host, value, decodeJson<RedirectRequest>(chunk, offset, length));
        else configure(this.#host, value);
        return;
      case EventType.Decide:
        decide(this.#host, decodeJson<ReconnectInfo>(chunk, offset, length));
        return;
      case EventType.OnOpen:
        runOnOpen(this.#host, value, decodeJson<OpenPayload>(chunk, offset, length));
        return;
      case EventType.NeedLookup:
        lookup(this.#host, value, decodeJson<{ host: string; family: number; all: boolean }>(chunk, offset, length));
        return;
      case EventType.Close: {
        const info = decodeJson<{ code: number; reason: string; at?: number; mono?: number }>(chunk, offset, length);
        const at = info.at ?? Date.now();
        this.#setState('closed');
        this.#stats.closed(info.mono ?? monoNow());
        this.#stats.record(at, 'close', { code: info.code, reason: info.reason });
        this.#hold(false);
        this.#unlistenAbort?.();
        if (this.#options.logger) native.countLogger(false);
        this.#log.line('info', `closed: code ${info.code}${info.reason ? ` (${info.reason})` : ''}`);
        this.#rejectOpened(
          this.#aborted ?? this.#lastError ?? new WebSocketError('ERR_CLOSED_BEFORE_OPEN', 'closed before opening', { url: this.url }),
        );
        this.#resolveClosed();
        for (const cb of this.#callbacks.drain()) {
          cb(new WebSocketError('ERR_NOT_OPEN', 'the session ended before the message was sent', { url: this.url }));
        }
        this.emit('close', info.code, info.reason);
        return;
      }
      default:
        return;
    }
  }

  #warnUnheard(err: WebSocketError): void {
    if (this.#warned) return;
    this.#warned = true;
    const text = `${err.message} (${this.url})`;
    process.emitWarning(text, {
      type: 'WebSocketWarning',
      code: UNHEARD_ERROR_WARNING,
      detail:
        `${err.code}: nobody listens for 'error' on this session. Later failures are not shown: ` +
        "listen for 'error' to handle them (lastError and stats() keep them too).",
    });
  }

  /** `messages` completed (`priority` of them onOpen's), some of them drops reported just before. */
  #sent(bytes: number, messages: number, priority: number): void {
    this.#buffered = Math.max(0, this.#buffered - bytes);
    this.#bufferedCount = Math.max(0, this.#bufferedCount - messages);
    const drops = Math.min(messages, this.#droppedUncounted);
    const dropBytes = Math.min(bytes, this.#droppedBytesUncounted);
    this.#droppedUncounted -= drops;
    this.#droppedBytesUncounted -= dropBytes;
    this.#stats.bytesOut += bytes - dropBytes;
    this.#stats.messagesOut += messages - drops;
    // Queue drops were matched to their callbacks already; onOpen's are not queued.
    const written = Math.max(0, messages - priority - drops);
    if (written > 0) for (const cb of this.#callbacks.completed(written)) cb();
    if (this.#needDrain && this.#buffered <= this.#options.lowWaterMark) {
      this.#needDrain = false;
      this.emit('drain');
    }
  }

}
