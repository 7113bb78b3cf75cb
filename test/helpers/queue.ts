/**
 * A small FIFO that producers push into (from event handlers) and tests pull
 * from with a timeout. Items pushed before anyone waits are buffered, so no
 * event is lost between "it happened" and "the test started awaiting it".
 */
import { TimeoutError } from './wait.js';

/** Rejection for `next()` on a queue that has ended and holds no more items. */
export class QueueEndedError extends Error {
  constructor(label: string, cause?: Error) {
    super(`${label}: no more items (source ended${cause ? `: ${cause.message}` : ''})`, { cause });
    this.name = 'QueueEndedError';
  }
}

interface Waiter<T> {
  resolve: (item: T) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private endState: { error?: Error } | undefined;

  /**
   * @param label        used in error messages
   * @param iterTimeoutMs per-item timeout used by `for await` iteration
   */
  constructor(
    private readonly label = 'queue',
    private readonly iterTimeoutMs = 10_000,
  ) {}

  /** Number of buffered items not yet taken. */
  get size(): number {
    return this.items.length;
  }

  /** True once `end()` was called (buffered items may still be taken). */
  get ended(): boolean {
    return this.endState !== undefined;
  }

  /** The error passed to `end()`, if any. */
  get error(): Error | undefined {
    return this.endState?.error;
  }

  push(item: T): void {
    if (this.endState) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(item);
    } else {
      this.items.push(item);
    }
  }

  /** No more items will come. Pending and future `next()` calls reject once the buffer is empty. */
  end(error?: Error): void {
    if (this.endState) return;
    this.endState = error ? { error } : {};
    const waiters = this.waiters.splice(0);
    for (const waiter of waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(new QueueEndedError(this.label, error));
    }
  }

  /** Take the next item, waiting at most `timeoutMs`. */
  next(timeoutMs: number): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift() as T);
    if (this.endState) return Promise.reject(new QueueEndedError(this.label, this.endState.error));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const index = this.waiters.indexOf(waiter);
          if (index !== -1) this.waiters.splice(index, 1);
          reject(new TimeoutError(this.label, timeoutMs));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Remove and return everything currently buffered (never waits). */
  drain(): T[] {
    return this.items.splice(0);
  }

  /**
   * Iterate until the source ends. Each item is awaited with the per-item
   * timeout given to the constructor, so a stalled source fails rather than hangs.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.items.length === 0 && this.endState) return;
      try {
        yield await this.next(this.iterTimeoutMs);
      } catch (error) {
        if (error instanceof QueueEndedError && !this.endState?.error) return;
        throw error;
      }
    }
  }
}
