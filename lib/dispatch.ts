// The dispatcher: event batches (one call, many events) to the sessions
// they concern, send() coalescing (one hand-over per tick), the trust
// stores already sent, lws log routing and the count of sessions that keep
// the process alive.
import { debuglog } from 'node:util';
import { binding, constants } from './binding';
import type { LogLevel, NativeConnectOptions } from './options/types';
import type { TrustStore } from './trust';
import { EventType, INDEX_STRIDE, IndexColumn } from './wire';

/** What a connection receives from the dispatcher. */
export interface EventSink {
  onNativeEvent(type: EventType, value: number, chunk: Buffer, offset: number, length: number): void;
  /** An lws log line about one of this session's connections. */
  onLwsLog(level: LogLevel, line: string): void;
}

const EMPTY = Buffer.alloc(0);
const { id: ID, value: VALUE, chunk: CHUNK, offset: OFFSET, length: LENGTH } = IndexColumn;

const sinks = new Map<number, EventSink>();
// Sessions with a `logger` (lws's lines are formatted only when someone reads them).
let loggers = 0;
const debug = debuglog('libwebsockets');
let referenced = 0;
const trustSent = new Set<string>();
let sendQueue: Array<number | string | Uint8Array | boolean> = [];

function levelName(mask: number): LogLevel {
  if (mask & (constants.LLL_ERR as number)) return 'error';
  if (mask & (constants.LLL_WARN as number)) return 'warn';
  if (mask & (constants.LLL_NOTICE as number)) return 'notice';
  if (mask & (constants.LLL_INFO as number)) return 'info';
  return 'debug';
}

function onBatch(chunks: Buffer[], index: Float64Array): void {
  let failure: { error: unknown } | undefined;
  // Batches mostly carry one connection's events: look it up once per run.
  let lastId = -1;
  let lastSink: EventSink | undefined;
  for (let i = 0; i < index.length; i += INDEX_STRIDE) {
    const type = index[i] as EventType;
    const id = index[i + ID] as number;
    const chunkIndex = index[i + CHUNK] as number;
    const chunk = chunkIndex >= 0 ? (chunks[chunkIndex] as Buffer) : EMPTY;
    try {
      if (type === EventType.CloseReceived) {
        // The server closed: the service thread holds its echo until JS
        // has handled what came before (this batch's events, done by now,
        // and what their handlers started: promise jobs, nextTicks), so
        // replies sent from there go out before the echo.
        const attempt = index[i + VALUE] as number;
        setImmediate(() => {
          if (sendQueue.length) flushSends();
          binding.closeEcho(id, attempt);
        });
        continue;
      }
      if (type === EventType.Log) {
        const line = chunk.toString('utf8', index[i + OFFSET], (index[i + OFFSET] as number) + (index[i + LENGTH] as number));
        const level = levelName(index[i + VALUE] as number);
        if (debug.enabled) debug('%s %s', level, line);
        // Lines lws tags with a connection go to its session's logger only.
        if (id !== 0) sinks.get(id)?.onLwsLog(level, line);
        continue;
      }
      let sink = lastSink;
      if (id !== lastId) {
        sink = sinks.get(id);
        lastId = id;
        lastSink = sink;
      }
      if (sink === undefined) continue;
      if (type === EventType.Close) {
        sinks.delete(id);
        lastId = -1;
      }
      sink.onNativeEvent(type, index[i + VALUE] as number, chunk, index[i + OFFSET] as number, index[i + LENGTH] as number);
    } catch (error) {
      // A throwing listener must not cost the rest of the batch its delivery;
      // it is reported as uncaught once the batch is done, as ws would.
      failure ??= { error };
    }
  }
  if (failure) {
    const { error } = failure;
    process.nextTick(() => {
      throw error;
    });
  }
}

binding.init(onBatch);
// process.exit() and fatal exceptions skip environment cleanup hooks: stop
// the service thread here so nothing runs while the process unwinds.
process.on('exit', () => binding.shutdown());

/**
 * The trust store's certificates cross to the native side only the first
 * time its key is used; later connections name it.
 */
function withTrust(options: NativeConnectOptions, trust: TrustStore | undefined): NativeConnectOptions {
  if (trust && !trustSent.has(trust.key)) {
    trustSent.add(trust.key);
    return { ...options, caDer: trust.der };
  }
  return options;
}

function flushSends(): void {
  const list = sendQueue;
  sendQueue = [];
  binding.sendBatch(list);
}

function updateLogLevel(): void {
  let mask = 0;
  if (loggers > 0) mask |= (constants.LLL_ERR as number) | (constants.LLL_WARN as number) | (constants.LLL_NOTICE as number);
  if (debug.enabled) mask |= (constants.LLL_ERR as number) | (constants.LLL_WARN as number) | (constants.LLL_NOTICE as number) | (constants.LLL_INFO as number);
  binding.setLogLevel(mask);
}
updateLogLevel();

export const native = {
  /** Starts a session. */
  connect(options: NativeConnectOptions, trust: TrustStore | undefined, sink: EventSink): number {
    const id = binding.connect(withTrust(options, trust));
    sinks.set(id, sink);
    return id;
  },
  /** The url/headers of one attempt or a redirect's hop (or why they could not be had, with the error's code). */
  config(id: number, attempt: number, options: NativeConnectOptions | null, trust: TrustStore | undefined, error: string, errorCode = ''): void {
    binding.config(id, attempt, options ? withTrust(options, trust) : null, error, errorCode);
  },
  decision(id: number, retry: boolean, delayMs: number): void {
    binding.decision(id, retry, delayMs);
  },
  onOpenDone(id: number, attempt: number, error: string): void {
    binding.onOpenDone(id, attempt, error);
  },
  sendPriority(id: number, attempt: number, data: string | Uint8Array, binary: boolean): void {
    binding.sendPriority(id, attempt, data, binary);
  },
  /** The lookup option's answer for one attempt: numeric addresses, or an error "CODE\nmessage". */
  resolved(id: number, attempt: number, addresses: string[] | null, error: string): void {
    binding.resolved(id, attempt, addresses, error);
  },
  /** Queued for the end of the current tick: one hand-over for all sends. */
  send(id: number, data: string | Uint8Array, binary: boolean): void {
    if (sendQueue.length === 0) queueMicrotask(flushSends);
    sendQueue.push(id, data, binary);
  },
  close(id: number, code: number, reason: Buffer): void {
    if (sendQueue.length) flushSends(); // the Close frame goes after queued sends
    binding.close(id, code, reason);
  },
  terminate(id: number): void {
    binding.terminate(id);
  },
  ping(id: number, data: Buffer): void {
    if (sendQueue.length) flushSends();
    binding.ping(id, data);
  },
  pong(id: number, data: Buffer): void {
    if (sendQueue.length) flushSends();
    binding.pong(id, data);
  },
  /** Counts connections that keep the process alive. */
  hold(on: boolean): void {
    referenced += on ? 1 : -1;
    binding.setRef(referenced > 0);
  },
  /** A session with a logger started (true) or ended (false). */
  countLogger(on: boolean): void {
    loggers += on ? 1 : -1;
    updateLogLevel();
  },
};
