// What the client knows of its outgoing queue (the queue itself is native,
// outbox.h): bufferedAmount and the number of messages, the bounds a send()
// is refused by under 'reject' while not open, when 'drain' is due, the
// send() callbacks, and the drops the next Sent event counts as written.
import { SendCallbacks, type SendCallback } from './send-callbacks';
import type { DropReason, OverflowPolicy } from './wire';

export interface OutgoingBounds {
  overflow: OverflowPolicy;
  queueMaxMessages: number;
  queueMaxBytes: number;
  highWaterMark: number;
  lowWaterMark: number;
}

export class Outgoing {
  /** Bytes given to send() (and onOpen's send) not yet written or dropped. */
  bytes = 0;
  /** Messages of those. */
  messages = 0;
  #needDrain = false;
  // Drops the next Sent event counts as written (the service thread reports them so).
  #droppedUncounted = 0;
  #droppedBytesUncounted = 0;
  readonly #callbacks = new SendCallbacks();
  readonly #bounds: OutgoingBounds;

  constructor(bounds: OutgoingBounds) {
    this.#bounds = bounds;
  }

  /** Whether the queue's bounds refuse one more message of `size` bytes ('reject' only; checked while not open). */
  refuses(size: number): boolean {
    const b = this.#bounds;
    return b.overflow === 'reject' && (this.messages + 1 > b.queueMaxMessages || this.bytes + size > b.queueMaxBytes);
  }

  /** A send(): false once bufferedAmount is above highWaterMark ('drain' follows). */
  queued(size: number, cb: SendCallback | undefined): boolean {
    this.bytes += size;
    this.messages++;
    this.#callbacks.add(cb);
    if (this.bytes > this.#bounds.highWaterMark) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** One of onOpen's sends (ahead of the queue, no callback). */
  queuedPriority(size: number): void {
    this.bytes += size;
    this.messages++;
  }

  /** A Drop event: the callback of the send() dropped (none for onOpen's). */
  dropped(reason: DropReason, bytes: number, priority: boolean): SendCallback | undefined {
    // The Sent event that follows counts it as written: it was not.
    this.#droppedUncounted += 1;
    this.#droppedBytesUncounted += bytes;
    if (priority) return undefined;
    // Overflow under 'drop-newest' and 'reject' takes the newest, the rest the oldest.
    const newest = reason === 'overflow' && this.#bounds.overflow !== 'drop-oldest';
    return newest ? this.#callbacks.droppedBack() : this.#callbacks.droppedFront();
  }

  /**
   * A Sent event: `messages` completed (`priority` of them onOpen's), some
   * of them drops reported just before. Returns what was written, and the
   * callbacks of the send()s written.
   */
  sent(bytes: number, messages: number, priority: number): { bytes: number; messages: number; callbacks: SendCallback[] } {
    this.bytes = Math.max(0, this.bytes - bytes);
    this.messages = Math.max(0, this.messages - messages);
    const drops = Math.min(messages, this.#droppedUncounted);
    const dropBytes = Math.min(bytes, this.#droppedBytesUncounted);
    this.#droppedUncounted -= drops;
    this.#droppedBytesUncounted -= dropBytes;
    // Queue drops were matched to their callbacks already; onOpen's are not queued.
    const written = Math.max(0, messages - priority - drops);
    return { bytes: bytes - dropBytes, messages: messages - drops, callbacks: written > 0 ? this.#callbacks.completed(written) : [] };
  }

  /** Whether 'drain' is due now (once per time above highWaterMark). */
  drainDue(): boolean {
    if (!this.#needDrain || this.bytes > this.#bounds.lowWaterMark) return false;
    this.#needDrain = false;
    return true;
  }

  /** The session ended: the callbacks of the send()s never written. */
  ended(): SendCallback[] {
    return this.#callbacks.drain();
  }
}
