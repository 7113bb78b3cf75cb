// WebSocketClient: one connection, driven by the native service thread.
import { isUtf8 as isUtf8Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { checkCloseArgs } from './close-codes';
import { WebSocketError, typeError } from './errors';
import { EventType, native, type EventSink } from './native';
import type { ResolvedOptions } from './options';

export type Message = { data: string | Buffer; isBinary: boolean };
export type SendData = string | Buffer | ArrayBuffer | ArrayBufferView;

export interface WebSocketClientEvents {
  open: [];
  message: [data: string | Buffer, isBinary: boolean];
  close: [code: number, reason: string];
  error: [error: WebSocketError];
  drain: [];
  pong: [data: Buffer];
}

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;
export type ReadyState = 0 | 1 | 2 | 3;

interface OpenInfo {
  protocol: string;
  extensions: string;
  headers: Record<string, string>;
}
interface ErrorInfo {
  code: string;
  message: string;
  status?: number;
  headers?: Record<string, string>;
}
interface CloseInfo {
  code: number;
  reason: string;
}

function toBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

export class WebSocketClient extends EventEmitter<WebSocketClientEvents> implements EventSink {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;

  /** The URL connected to. */
  readonly url: string;
  /** Settles on the first open, or rejects with the failure that prevented it. */
  readonly opened: Promise<void>;

  #id: number;
  #state: ReadyState = CONNECTING;
  #protocol = '';
  #extensions = '';
  #headers: Record<string, string> = {};
  #buffered = 0;
  #needDrain = false;
  #referenced = true;
  #holding = false;
  #lastError: WebSocketError | undefined;
  #closed: Promise<void>;
  #resolveOpened!: () => void;
  #rejectOpened!: (e: Error) => void;
  #resolveClosed!: () => void;
  readonly #options: ResolvedOptions;

  /** @internal use connect() */
  constructor(options: ResolvedOptions) {
    super();
    this.#options = options;
    this.url = options.url.href;
    this.opened = new Promise<void>((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    // Users who never await `opened` learn of failures through events.
    this.opened.catch(() => undefined);
    this.#closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
    if (options.logger) native.addLogger(options.logger);
    this.#id = native.connect({ ...options.native }, options.trust, this);
    this.#hold(true);
  }

  get readyState(): ReadyState {
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
  /** Bytes given to send() and not yet written to the socket. */
  get bufferedAmount(): number {
    return this.#buffered;
  }
  /** The error that ended the connection, if one did. */
  get lastError(): WebSocketError | undefined {
    return this.#lastError;
  }

  /**
   * Queues a message. Allowed while connecting (sent once open). Returns
   * false when bufferedAmount is above highWaterMark: the message is still
   * queued; wait for 'drain' before sending more.
   */
  send(data: SendData, options: { binary?: boolean } = {}): boolean {
    if (this.#state >= CLOSING) {
      throw new WebSocketError('ERR_NOT_OPEN', `send() after close (readyState ${this.#state})`, { url: this.url });
    }
    let payload: string | Uint8Array;
    let binary: boolean;
    let size: number;
    if (typeof data === 'string') {
      payload = data;
      binary = options.binary === true;
      size = Buffer.byteLength(data);
    } else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
      payload = toBytes(data);
      binary = options.binary !== false;
      size = payload.byteLength;
    } else {
      throw typeError('ERR_INVALID_ARG_TYPE', 'send() takes a string, Buffer, ArrayBuffer or ArrayBufferView');
    }
    if (!binary && typeof payload !== 'string' && !isUtf8(payload)) {
      throw typeError('ERR_INVALID_UTF8', 'a text message must be valid UTF-8');
    }
    this.#buffered += size;
    native.send(this.#id, payload, binary);
    if (this.#buffered > this.#options.highWaterMark) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** Sends a Ping (payload at most 125 bytes). */
  ping(data: string | Buffer = Buffer.alloc(0)): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (bytes.length > 125) throw typeError('ERR_INVALID_ARG_VALUE', 'ping payload is limited to 125 bytes');
    if (this.#state !== OPEN) {
      throw new WebSocketError('ERR_NOT_OPEN', 'ping() needs an open connection', { url: this.url });
    }
    native.ping(this.#id, bytes);
  }

  /**
   * Starts the closing handshake (after queued messages are written) and
   * resolves once the connection is closed. Before open, aborts the attempt.
   */
  close(code = 1000, reason: string | Buffer = ''): Promise<void> {
    const bytes = checkCloseArgs(code, reason);
    if (this.#state === CLOSED) return Promise.resolve();
    if (this.#state === CONNECTING || this.#state === OPEN) {
      const wasConnecting = this.#state === CONNECTING;
      this.#state = CLOSING;
      if (wasConnecting) native.terminate(this.#id);
      else native.close(this.#id, code, bytes);
    }
    return this.#closed;
  }

  /** Drops the connection at once, without a closing handshake. */
  terminate(): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSING;
    native.terminate(this.#id);
  }

  /** Lets the process exit while this connection is open (as net.Socket). */
  unref(): this {
    this.#referenced = false;
    this.#hold(false);
    return this;
  }
  ref(): this {
    this.#referenced = true;
    if (this.#state !== CLOSED) this.#hold(true);
    return this;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
    const queue: Message[] = [];
    let done = this.#state === CLOSED;
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
    const want = on && this.#referenced && this.#state !== CLOSED;
    if (want === this.#holding) return;
    this.#holding = want;
    native.hold(want);
  }

  #json<T>(chunk: Buffer, offset: number, length: number): T {
    return JSON.parse(chunk.toString('utf8', offset, offset + length)) as T;
  }

  /** @internal */
  onNativeEvent(type: EventType, value: number, chunk: Buffer, offset: number, length: number): void {
    switch (type) {
      case EventType.Text:
        this.emit('message', this.#options.textAsBuffer ? chunk.subarray(offset, offset + length) : chunk.toString('utf8', offset, offset + length), false);
        return;
      case EventType.Binary:
        this.emit('message', chunk.subarray(offset, offset + length), true);
        return;
      case EventType.Sent:
        this.#buffered = Math.max(0, this.#buffered - value);
        if (this.#needDrain && this.#buffered <= this.#options.lowWaterMark) {
          this.#needDrain = false;
          this.emit('drain');
        }
        return;
      case EventType.Open: {
        const info = this.#json<OpenInfo>(chunk, offset, length);
        this.#protocol = info.protocol ?? '';
        this.#extensions = info.extensions ?? '';
        this.#headers = info.headers ?? {};
        if (this.#state === CONNECTING) this.#state = OPEN;
        this.#resolveOpened();
        this.emit('open');
        return;
      }
      case EventType.Pong:
        this.emit('pong', Buffer.from(chunk.subarray(offset, offset + length)));
        return;
      case EventType.Error: {
        const info = this.#json<ErrorInfo>(chunk, offset, length);
        const details: { url: string; status?: number; headers?: Record<string, string> } = { url: this.url };
        if (info.status !== undefined) details.status = info.status;
        if (info.headers !== undefined) details.headers = info.headers;
        const err = new WebSocketError(info.code, `${info.message} (${this.url})`, details);
        this.#lastError = err;
        this.#rejectOpened(err);
        // Unlike ws, an 'error' without listeners does not throw: failures
        // of long-lived connections are expected, and `opened` reports them.
        if (this.listenerCount('error') > 0) this.emit('error', err);
        return;
      }
      case EventType.Close: {
        const info = this.#json<CloseInfo>(chunk, offset, length);
        this.#state = CLOSED;
        this.#hold(false);
        if (this.#options.logger) native.removeLogger(this.#options.logger);
        this.#rejectOpened(
          this.#lastError ?? new WebSocketError('ERR_CLOSED_BEFORE_OPEN', `closed before opening (${this.url})`, { url: this.url }),
        );
        this.#resolveClosed();
        this.emit('close', info.code, info.reason);
        return;
      }
      default:
        return;
    }
  }
}

function isUtf8(bytes: Uint8Array): boolean {
  // Buffer#isUtf8 exists since Node 18.14.
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return isUtf8Buffer(buf);
}
