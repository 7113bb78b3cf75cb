// The addon binding of this environment, and the dispatcher that turns its
// event batches (one call, many events) into per-connection callbacks.
import path from 'node:path';
import { debuglog } from 'node:util';
import type { LogLevel, NativeConnectOptions } from './options/types';
import type { TrustStore } from './trust';
import { EventType, INDEX_STRIDE, IndexColumn } from './wire';

interface NativeBinding {
  init(onBatch: (chunks: Buffer[], index: Float64Array) => void): void;
  connect(options: NativeConnectOptions): number;
  sendBatch(list: Array<number | string | Uint8Array | boolean>): void;
  close(id: number, code: number, reason: Buffer): void;
  terminate(id: number): void;
  ping(id: number, data: Buffer): void;
  pong(id: number, data: Buffer): void;
  closeEcho(id: number, attempt: number): void;
  setRef(ref: boolean): void;
  setLogLevel(mask: number): void;
  shutdown(): void;
  config(id: number, attempt: number, options: NativeConnectOptions | null, error: string, errorCode?: string): void;
  decision(id: number, retry: boolean, delayMs: number): void;
  onOpenDone(id: number, attempt: number, error: string): void;
  sendPriority(id: number, attempt: number, data: string | Uint8Array, binary: boolean): void;
  resolved(id: number, attempt: number, addresses: string[] | null, error: string): void;
  constants(): Record<string, unknown>;
  serviceInfo(): ServiceInfo;
  testing: TestHooks;
}

/** native/js/test_hooks.cc: pure native functions, for their tests. */
interface TestHooks {
  classify(failure: Record<string, unknown>): { action: string; delayMs: number; reason: string; spread: boolean; keepClimbing: boolean };
  reconnectDelay(input: Record<string, unknown>): { delayMs: number; scheduleMs: number; floorMs: number; retryAfterWon: boolean };
  /** The order the timer queue fires timers in after `ops` (flat [kind 0 schedule | 1 cancel, timer, offsetUs]). */
  timerQueue(timers: number, ops: number[]): number[];
  /** The CPU budget as read below `root` (a directory laid out like /proc and /sys/fs/cgroup). */
  cpuBudget(root: string, affinity: number): ServiceInfo;
  /** The order the addresses of a name are tried in. */
  orderAddresses(addresses: string[], family: number): string[];
}

/** What the service thread decided from the CPUs the process has. */
export interface ServiceInfo {
  /** CPUs in the process's affinity mask. */
  cpus: number;
  /** The cgroup's CPU quota in CPUs (cpu.max, cpu.cfs_quota_us), null without one. */
  cpuQuota: number | null;
  /** Two CPUs at least: the service thread may busy-poll after a hand-off. */
  spinAllowed: boolean;
  /** The busy-poll window it uses, µs (0: never). */
  spinUs?: number;
}

/** What a connection receives from the dispatcher. */
export interface EventSink {
  onNativeEvent(type: EventType, value: number, chunk: Buffer, offset: number, length: number): void;
  /** An lws log line about one of this session's connections. */
  onLwsLog(level: LogLevel, line: string): void;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => NativeBinding;
// NLWS_ADDON_PATH names another build of the addon to load instead (the
// sanitizer build, build-sanitize/Release/node_libwebsockets.node, for
// scripts/test-sanitize.sh). For development only; unset in normal use.
const override = process.env.NLWS_ADDON_PATH;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const binding = override ? (require(path.resolve(override)) as NativeBinding) : load(path.join(__dirname, '..', '..'));
const constants = binding.constants();
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

const [patchNames = '', patchHash = ''] = String(constants.lwsPatchSet ?? '').split('@');

export const native = {
  lwsVersion: constants.lwsVersion as string,
  lwsPatches: Object.freeze({ names: Object.freeze(patchNames ? patchNames.split(';') : []), sha256: patchHash }),

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
  /** The addon's constants: the wire contract, as test/wire.test.ts compares it with lib/wire.ts. */
  constants(): Record<string, unknown> {
    return binding.constants();
  },
  /** The service thread's CPU budget and busy-poll decision (diagnostics, tests). */
  serviceInfo(): ServiceInfo {
    return binding.serviceInfo();
  },
  /**
   * The pure native functions with chosen inputs, for their tests
   * (native/js/test_hooks.cc): the failure classifier, the reconnect delay,
   * the timer queue, the CPU budget below another root, the address order.
   */
  testing: binding.testing,
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
