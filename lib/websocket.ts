// WebSocket: ws's client API over a session, so that porting a ws client is
// changing its import. One connection by default (reconnect: false), as ws;
// every connect() option works too, so persistence is one option away.
// Where ws's behaviour cannot be had, the call throws a typed error instead
// of doing something else quietly.
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import { CLOSE_WITHOUT_CODE, CLOSED, CLOSING, CONNECTING, OPEN, WebSocketClient, type ReadyState, type SendCallback, type WebSocketClientEvents } from './client';
import { typeError, WebSocketError } from './errors';
import { connect, type UrlInput } from './connect';
import { TypedEventEmitter } from './typed-emitter';
import { fromWsOptions, unsupported, type WebSocketOptions } from './ws-options';

export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';
/** A received message: binary ones as `binaryType` asks, text as a Buffer (as in ws). */
export type RawData = Buffer | ArrayBuffer | Buffer[] | Blob;

/** What ws's 'upgrade' event gives: the 101 response (status and headers only). */
export interface UpgradeResponse {
  statusCode: number;
  statusMessage: string;
  headers: Readonly<Record<string, string>>;
}

/**
 * What ws's 'unexpected-response' gives as its response: an http.IncomingMessage
 * there; here a readable stream with the status and headers. The body is not
 * kept by libwebsockets: the stream ends at once.
 */
export interface UnexpectedResponse extends Readable {
  statusCode: number;
  statusMessage: string;
  headers: Record<string, string>;
}

/** ws's 'unexpected-response' request: the connection is already closed; abort() and destroy() do nothing. */
export interface UnexpectedRequest {
  method: 'GET';
  path: string;
  host: string;
  protocol: string;
  abort(): void;
  destroy(): void;
}

export interface WebSocketEvents extends Omit<WebSocketClientEvents, 'open' | 'message' | 'close' | 'error' | 'redirect'> {
  open: [];
  /** Binary messages as `binaryType` says; text as a Buffer (as ws). */
  message: [data: RawData, isBinary: boolean];
  close: [code: number, reason: Buffer];
  error: [error: WebSocketError];
  upgrade: [response: UpgradeResponse];
  'unexpected-response': [request: UnexpectedRequest, response: UnexpectedResponse];
  /** As ws's: the URL the redirect leads to, and a stand-in for the request (followRedirects). */
  redirect: [url: string, request: UnexpectedRequest];
}

/** ws's send() options. */
export interface WsSendOptions {
  binary?: boolean;
  /** Only where it changes nothing (see the README): messages are compressed when permessage-deflate is on. */
  compress?: boolean;
  /** Only true: a message is sent whole. */
  fin?: boolean;
  /** Only true: a client masks every frame. */
  mask?: boolean;
}

// ws's WHATWG-style events (addEventListener / onmessage).
export interface WsEvent {
  readonly type: string;
  readonly target: WebSocket;
}
export interface WsMessageEvent extends WsEvent {
  readonly data: RawData | string;
}
export interface WsCloseEvent extends WsEvent {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
}
export interface WsErrorEvent extends WsEvent {
  readonly error: WebSocketError;
  readonly message: string;
}
interface EventTargetEvents {
  open: WsEvent;
  message: WsMessageEvent;
  close: WsCloseEvent;
  error: WsErrorEvent;
}
type TargetListener<K extends keyof EventTargetEvents> =
  | ((event: EventTargetEvents[K]) => void)
  | { handleEvent(event: EventTargetEvents[K]): void };

const READY_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'] as const;
const BINARY_TYPES: readonly BinaryType[] = ['nodebuffer', 'arraybuffer', 'fragments', 'blob'];
const FORWARDED = ['drain', 'ping', 'pong', 'state', 'disconnect', 'reconnecting', 'giveup', 'gap', 'stall', 'rotate', 'drop'] as const;
const kAttribute = Symbol('on-attribute listener');

function toBytes(data: unknown): Buffer | string {
  if (typeof data === 'string' || Buffer.isBuffer(data)) return data;
  if (typeof data === 'number') return String(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (data === undefined || data === null) return Buffer.alloc(0);
  throw typeError('ERR_INVALID_ARG_TYPE', 'data must be a string, Buffer, ArrayBuffer, ArrayBufferView or number');
}

function notOpen(state: ReadyState, url: string): WebSocketError {
  return new WebSocketError('ERR_NOT_OPEN', `WebSocket is not open: readyState ${state} (${READY_NAMES[state]})`, { url });
}

export class WebSocket extends TypedEventEmitter<WebSocketEvents> {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  declare readonly CONNECTING: 0;
  declare readonly OPEN: 1;
  declare readonly CLOSING: 2;
  declare readonly CLOSED: 3;

  /** The session underneath: stats(), metrics(), opened, state, lastError and the persistence events. */
  readonly session: WebSocketClient;
  #binaryType: BinaryType = 'nodebuffer';
  #paused = false;
  #held: Array<[RawData, boolean]> = [];
  #opened = false;
  #ending = false;
  #earlyError: WebSocketError | undefined;

  /**
   * `new WebSocket(url, protocols?, options?)` as ws's, or
   * `new WebSocket(url, options)`. `http:`/`https:` URLs mean `ws:`/`wss:`.
   */
  constructor(url: UrlInput, protocols?: string | readonly string[] | WebSocketOptions, options?: WebSocketOptions) {
    super();
    let opts = options;
    let protos: unknown = protocols;
    if (typeof protocols === 'object' && protocols !== null && !Array.isArray(protocols)) {
      opts = protocols as WebSocketOptions;
      protos = undefined;
    }
    if (protos === undefined && opts && opts.protocols !== undefined) protos = opts.protocols;
    // http: and https: URLs are taken as ws: and wss: by connect() itself.
    if (typeof url === 'string' && /^ws\+unix:/i.test(url)) throw unsupported('ws+unix: URLs', 'connections are TCP only');
    this.session = connect(url, fromWsOptions(opts, protos));
    this.#wire();
  }

  #wire(): void {
    const s = this.session;
    s.on('open', () => {
      this.#opened = true;
      this.emit('upgrade', { statusCode: 101, statusMessage: 'Switching Protocols', headers: s.handshakeHeaders });
      this.emit('open');
    });
    s.on('message', (data, isBinary) => {
      // As in ws, binaryType applies to binary messages; text is a Buffer.
      const out = isBinary ? this.#convert(data as Buffer) : (data as Buffer);
      if (this.#paused) this.#held.push([out, isBinary]);
      else this.emit('message', out, isBinary);
    });
    s.on('close', (code, reason) => {
      this.#emitEarlyError();
      this.emit('close', code, Buffer.from(reason));
    });
    s.on('error', (err) => {
      if (err.code === 'ERR_UNEXPECTED_RESPONSE' && this.listenerCount('unexpected-response') > 0) {
        // As ws: a listener for the refused upgrade replaces the 'error'.
        this.emit('unexpected-response', this.#request(), this.#response(err));
        return;
      }
      // Without a listener this throws, as ws's does.
      this.emit('error', err);
    });
    s.on('redirect', (info) => this.emit('redirect', info.to, this.#request(info.to)));
    for (const name of FORWARDED) {
      s.on(name, (...args: unknown[]) => (this.emit as (e: string, ...a: unknown[]) => boolean)(name, ...args));
    }
  }

  #convert(data: Buffer): RawData {
    switch (this.#binaryType) {
      case 'arraybuffer':
        return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
      case 'fragments':
        return [data];
      case 'blob':
        return new Blob([data]);
      default:
        return data;
    }
  }

  #request(url = this.url): UnexpectedRequest {
    const u = new URL(url);
    const nothing = (): void => undefined;
    return { method: 'GET', path: `${u.pathname}${u.search}`, host: u.host, protocol: u.protocol, abort: nothing, destroy: nothing };
  }

  #response(err: WebSocketError): UnexpectedResponse {
    const res = Readable.from([]) as UnexpectedResponse;
    res.statusCode = err.status ?? 0;
    res.statusMessage = STATUS_CODES[res.statusCode] ?? '';
    res.headers = { ...(err.headers ?? {}) };
    return res;
  }

  /** 'nodebuffer' (default), 'arraybuffer', 'fragments' or 'blob'; other values are ignored, as in ws. */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  set binaryType(type: BinaryType) {
    if (BINARY_TYPES.includes(type)) this.#binaryType = type;
  }
  get bufferedAmount(): number {
    return this.session.bufferedAmount;
  }
  /** The names of the extensions in use, comma-separated, as ws gives them. */
  get extensions(): string {
    return this.session.extensions
      .split(',')
      .map((e) => e.split(';')[0]!.trim())
      .filter(Boolean)
      .join();
  }
  get isPaused(): boolean {
    return this.#paused;
  }
  get protocol(): string {
    return this.session.protocol;
  }
  get readyState(): ReadyState {
    return this.session.readyState;
  }
  get url(): string {
    return this.session.url;
  }

  /**
   * Sends a message. Unlike ws, a send while CONNECTING is queued and goes
   * out after the open, instead of throwing. After close(), `cb` gets an
   * error (nothing is thrown), as in ws.
   */
  send(data: unknown, cb?: SendCallback): void;
  send(data: unknown, options: WsSendOptions, cb?: SendCallback): void;
  send(data: unknown, optionsOrCb?: WsSendOptions | SendCallback, callback?: SendCallback): void {
    const options: WsSendOptions = typeof optionsOrCb === 'function' || optionsOrCb == null ? {} : optionsOrCb;
    const cb = typeof optionsOrCb === 'function' ? optionsOrCb : callback;
    if (options.fin === false) throw unsupported('fin: false', 'a message is sent whole; send its pieces as one message');
    if (options.mask === false) throw unsupported('mask: false', 'a client masks every frame (RFC 6455 5.3)');
    if (typeof Blob !== 'undefined' && data instanceof Blob) {
      throw unsupported('Blob data', 'send the bytes (await blob.arrayBuffer())');
    }
    const payload = toBytes(data);
    const state = this.readyState;
    if (state === CLOSING || state === CLOSED || this.session.state === 'closing') {
      if (cb) process.nextTick(cb, notOpen(state, this.url));
      return;
    }
    const binary = options.binary ?? typeof payload !== 'string';
    this.session.send(payload, { binary }, cb);
  }

  /**
   * Sends a PING (at most 125 bytes). `cb` runs once it has been handed to
   * the service thread (on the next tick), which writes it ahead of queued data.
   */
  ping(data?: unknown, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this.#control('ping', data, mask, cb);
  }

  /** ping() and pong() as ws's: a CONNECTING socket throws, a closed one calls back with an error. */
  #control(kind: 'ping' | 'pong', data: unknown, mask: unknown, cb: SendCallback | undefined): void {
    const callback = typeof data === 'function' ? (data as SendCallback) : typeof mask === 'function' ? (mask as SendCallback) : cb;
    const payload = typeof data === 'function' ? Buffer.alloc(0) : toBytes(data);
    if (mask === false) throw unsupported('mask: false', 'a client masks every frame (RFC 6455 5.3)');
    const state = this.readyState;
    if (state === CONNECTING) throw notOpen(state, this.url);
    if (state !== OPEN) {
      if (callback) process.nextTick(callback, notOpen(state, this.url));
      return;
    }
    if (kind === 'ping') this.session.ping(payload);
    else this.session.pong(payload);
    if (callback) process.nextTick(callback);
  }

  /**
   * Sends a PONG (at most 125 bytes): with `autoPong: false`, the answer to
   * a 'ping' event, as in ws. `cb` as for ping().
   */
  pong(data?: unknown, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this.#control('pong', data, mask, cb);
  }

  /**
   * Starts the closing handshake. Before the first open it ends at once with
   * 1006 after an 'error', as ws's does.
   */
  close(code?: number, reason?: string | Buffer): void {
    if (this.readyState === CLOSED) return;
    const early = this.#closedBeforeOpen();
    // As ws: no code means a Close frame without one (the server's echo is then reported as 1005).
    if (code === undefined) void this.session[CLOSE_WITHOUT_CODE]();
    else void this.session.close(code, reason);
    early();
  }

  /** Drops the connection at once (before the first open: after an 'error', as ws's). */
  terminate(): void {
    if (this.readyState === CLOSED) return;
    const early = this.#closedBeforeOpen();
    this.session.terminate();
    early();
  }

  /** ws reports a session closed before its first open with an 'error' (next tick, always before 'close'). */
  #closedBeforeOpen(): () => void {
    if (this.#opened || this.session.state !== 'connecting' || this.#ending) return () => undefined;
    this.#ending = true;
    return () => {
      this.#earlyError = new WebSocketError('ERR_CLOSED_BEFORE_OPEN', 'WebSocket was closed before the connection was established', {
        url: this.url,
      });
      process.nextTick(() => this.#emitEarlyError());
    };
  }

  #emitEarlyError(): void {
    const err = this.#earlyError;
    this.#earlyError = undefined;
    if (err) this.emit('error', err);
  }

  /** Holds 'message' events until resume(), as ws's pause() does. */
  pause(): void {
    if (this.readyState === CONNECTING || this.readyState === CLOSED) return;
    this.#paused = true;
  }
  resume(): void {
    if (this.readyState === CONNECTING || this.readyState === CLOSED) return;
    this.#paused = false;
    const held = this.#held;
    this.#held = [];
    for (const [data, isBinary] of held) this.emit('message', data, isBinary);
  }

  // ws's WHATWG-style API: addEventListener and the on<event> attributes.

  addEventListener<K extends keyof EventTargetEvents>(type: K, listener: TargetListener<K>, options?: { once?: boolean }): void {
    const call = (event: EventTargetEvents[K]): void => {
      if (typeof listener === 'function') listener.call(this, event);
      else listener.handleEvent(event);
    };
    const wrapped = this.#adapter(type, call) as ((...args: unknown[]) => void) & { [kAttribute]?: unknown; listener?: unknown };
    wrapped.listener = listener;
    const on = (options?.once ? this.once : this.on) as (e: string, l: (...a: unknown[]) => void) => this;
    on.call(this, type, wrapped);
  }

  removeEventListener<K extends keyof EventTargetEvents>(type: K, listener: TargetListener<K>): void {
    for (const l of this.listeners(type) as Array<{ listener?: unknown }>) {
      if (l.listener === listener) {
        this.off(type, l as never);
        return;
      }
    }
  }

  #adapter<K extends keyof EventTargetEvents>(type: K, call: (event: EventTargetEvents[K]) => void): (...args: never[]) => void {
    const target = this;
    const deliver = call as (event: WsEvent) => void;
    switch (type) {
      case 'message':
        return ((data: RawData, isBinary: boolean) => {
          const event: WsMessageEvent = { type, target, data: isBinary ? data : Buffer.isBuffer(data) ? data.toString() : data };
          deliver(event);
        }) as never;
      case 'close':
        return ((code: number, reason: Buffer) => {
          const event: WsCloseEvent = { type, target, code, reason: reason.toString(), wasClean: code !== 1006 };
          deliver(event);
        }) as never;
      case 'error':
        return ((error: WebSocketError) => {
          const event: WsErrorEvent = { type, target, error, message: error.message };
          deliver(event);
        }) as never;
      default:
        return (() => deliver({ type, target })) as never;
    }
  }

  #attribute<K extends keyof EventTargetEvents>(type: K): ((event: EventTargetEvents[K]) => void) | null {
    for (const l of this.listeners(type) as Array<{ [kAttribute]?: (event: EventTargetEvents[K]) => void }>) {
      if (l[kAttribute]) return l[kAttribute];
    }
    return null;
  }

  #setAttribute<K extends keyof EventTargetEvents>(type: K, handler: ((event: EventTargetEvents[K]) => void) | null): void {
    for (const l of this.listeners(type) as Array<{ [kAttribute]?: unknown }>) {
      if (l[kAttribute]) this.off(type, l as never);
    }
    if (typeof handler !== 'function') return;
    const wrapped = this.#adapter(type, (event) => handler.call(this, event)) as ((...args: unknown[]) => void) & { [kAttribute]?: unknown };
    wrapped[kAttribute] = handler;
    (this.on as (e: string, l: (...a: unknown[]) => void) => this)(type, wrapped);
  }

  get onopen(): ((event: WsEvent) => void) | null {
    return this.#attribute('open');
  }
  set onopen(handler: ((event: WsEvent) => void) | null) {
    this.#setAttribute('open', handler);
  }
  get onmessage(): ((event: WsMessageEvent) => void) | null {
    return this.#attribute('message');
  }
  set onmessage(handler: ((event: WsMessageEvent) => void) | null) {
    this.#setAttribute('message', handler);
  }
  get onclose(): ((event: WsCloseEvent) => void) | null {
    return this.#attribute('close');
  }
  set onclose(handler: ((event: WsCloseEvent) => void) | null) {
    this.#setAttribute('close', handler);
  }
  get onerror(): ((event: WsErrorEvent) => void) | null {
    return this.#attribute('error');
  }
  set onerror(handler: ((event: WsErrorEvent) => void) | null) {
    this.#setAttribute('error', handler);
  }
}

for (const [i, name] of READY_NAMES.entries()) {
  Object.defineProperty(WebSocket.prototype, name, { enumerable: true, value: i });
}
