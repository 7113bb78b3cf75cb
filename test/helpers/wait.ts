/**
 * Event/promise waiting utilities with mandatory timeouts.
 *
 * Nothing here sleeps for synchronisation: `once` and `withTimeout` await real
 * events; `waitFor` polls only for conditions that have no event to await, and
 * is always bounded by its timeout.
 */
import type { EventEmitter } from 'node:events';
import { afterEach } from 'vitest';

/** Rejection used by every helper in this file when time runs out. */
export class TimeoutError extends Error {
  readonly label: string;
  readonly timeoutMs: number;

  constructor(label: string, timeoutMs: number) {
    super(`Timed out after ${timeoutMs} ms waiting for ${label}`);
    this.name = 'TimeoutError';
    this.label = label;
    this.timeoutMs = timeoutMs;
  }
}

function checkTimeout(ms: number): void {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(`timeout must be a finite number >= 0, got ${ms}`);
  }
}

/**
 * Resolve/reject like `promise`, or reject with a TimeoutError after `ms`.
 * The timer is always cleared, so it never keeps the process alive afterwards.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, label = 'promise'): Promise<T> {
  checkTimeout(ms);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError(label, ms)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export interface OnceOptions {
  /**
   * Reject if the emitter emits 'error' before `event` (default true).
   * Set false to wait for e.g. 'close' on a socket that errors first.
   */
  rejectOnError?: boolean;
}

/**
 * Wait for one emission of `event` and resolve with its arguments.
 * Rejects with the error if the emitter emits 'error' first (unless `event`
 * is 'error' itself or `rejectOnError` is false), or with a TimeoutError
 * after `timeoutMs`. All listeners are removed when it settles.
 */
export function once<T extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  event: string | symbol,
  timeoutMs: number,
  options: OnceOptions = {},
): Promise<T> {
  checkTimeout(timeoutMs);
  return new Promise<T>((resolve, reject) => {
    const watchError = event !== 'error' && (options.rejectOnError ?? true);
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.removeListener(event, onEvent);
      if (watchError) emitter.removeListener('error', onError);
    };
    const onEvent = (...args: unknown[]): void => {
      cleanup();
      resolve(args as T);
    };
    const onError = (error: unknown): void => {
      cleanup();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new TimeoutError(`event '${String(event)}'`, timeoutMs));
    }, timeoutMs);
    emitter.on(event, onEvent);
    if (watchError) emitter.on('error', onError);
  });
}

export interface WaitForOptions {
  /** Delay between polls in ms (default 5). 0 polls via setImmediate. */
  intervalMs?: number;
  /** Used in the TimeoutError message. */
  label?: string;
}

/**
 * Poll `predicate` until it returns true, bounded by `timeoutMs`.
 * Only for conditions that have no event to await (e.g. a counter). If the
 * predicate throws, the error is propagated immediately.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  options: WaitForOptions = {},
): Promise<void> {
  checkTimeout(timeoutMs);
  const intervalMs = Math.max(0, options.intervalMs ?? 5);
  const label = options.label ?? 'condition';
  const deadline = performance.now() + timeoutMs;
  // Bounded: the deadline ends the loop; each iteration yields to the event loop.
  for (;;) {
    if (await predicate()) return;
    const remaining = deadline - performance.now();
    if (remaining <= 0) throw new TimeoutError(label, timeoutMs);
    await new Promise<void>((resolve) => {
      if (intervalMs === 0) setImmediate(resolve);
      else setTimeout(resolve, Math.min(intervalMs, remaining));
    });
  }
}

/**
 * Ends every client in `clients` (emptying it) and waits for each 'close':
 * the usual afterEach of a test file. An attempt failing at the same moment
 * may emit 'error' first: only 'close' matters here.
 */
export async function terminateAll(
  clients: Array<{ state: string; terminate(): void } & Parameters<typeof once>[0]>,
  timeoutMs: number,
): Promise<void> {
  for (const c of clients.splice(0)) {
    if (c.state === 'closed') continue;
    const closed = once(c, 'close', timeoutMs, { rejectOnError: false });
    c.terminate();
    await closed;
  }
}


/**
 * The usual afterEach of a test file, registered: the clients and servers a
 * test pushes are ended after it, clients first (terminated; with
 * `closeTimeoutMs`, each awaited to 'close' as terminateAll does), then the
 * servers closed.
 */
export function endAfterEach<C extends Parameters<typeof terminateAll>[0][number], S extends { close(): Promise<unknown> }>(
  options: { closeTimeoutMs?: number } = {},
): { clients: C[]; servers: S[] } {
  const clients: C[] = [];
  const servers: S[] = [];
  afterEach(async () => {
    if (options.closeTimeoutMs !== undefined) await terminateAll(clients, options.closeTimeoutMs);
    else for (const c of clients.splice(0)) c.terminate();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return { clients, servers };
}
