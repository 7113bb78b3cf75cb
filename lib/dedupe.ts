// Duplicates across a rotation. During a rotation (start..done) both
// connections may deliver a message: keys seen in that window drop the
// second copy. After 'done' the new connection's first messages may still
// repeat what the old one delivered (copies in flight): the window closes
// at its first new message.
import type { RotatePhase } from './events';

export class Dedupe {
  #active = false;
  #trailing = false;
  readonly #keys = new Set<unknown>();
  readonly #key: (data: string | Buffer, isBinary: boolean) => unknown;

  constructor(key: (data: string | Buffer, isBinary: boolean) => unknown) {
    this.#key = key;
  }

  /** A rotation started (true), or ended without a switch or with the connection (false). */
  window(open: boolean): void {
    this.#active = open;
    this.#trailing = false;
    this.#keys.clear();
  }

  /** The old connection has closed: the window ends at the first message not seen. */
  trail(): void {
    this.#trailing = true;
  }

  /** A rotation's phase: its window opens at start, trails after done, closes when it failed. */
  rotation(phase: RotatePhase): void {
    if (phase === 'start') this.window(true);
    if (phase === 'done') this.trail();
    if (phase === 'failed') this.window(false);
  }

  /** Whether a message is a copy of one already delivered. */
  isCopy(data: string | Buffer, isBinary: boolean): boolean {
    if (!this.#active) return false;
    const key = this.#key(data, isBinary);
    if (this.#keys.has(key)) return true;
    if (this.#trailing) this.window(false);
    else this.#keys.add(key);
    return false;
  }
}
