// The callbacks of send(), matched to the native queue's completions. The
// service thread reports how many queued messages were written (in queue
// order) and which were dropped (from the front, or from the back for
// 'drop-newest'/'reject' overflow); messages sent without a callback ahead
// of the first one that has one are only counted, so sessions that never
// pass a callback pay nothing per message.

export type SendCallback = (err?: Error) => void;

export class SendCallbacks {
  #untracked = 0; // messages ahead of every tracked one, none with a callback
  #items: Array<SendCallback | undefined> = [];
  #head = 0;

  /** One message queued, with its callback if it has one. */
  add(cb: SendCallback | undefined): void {
    if (cb === undefined && this.#head === this.#items.length) {
      this.#untracked++;
      return;
    }
    this.#items.push(cb);
  }

  /** `n` messages from the front were written: their callbacks, in order. */
  completed(n: number): SendCallback[] {
    const skip = Math.min(n, this.#untracked);
    this.#untracked -= skip;
    const out: SendCallback[] = [];
    for (let i = skip; i < n && this.#head < this.#items.length; i++) {
      const cb = this.#items[this.#head];
      this.#items[this.#head++] = undefined;
      if (cb) out.push(cb);
    }
    this.#compact();
    return out;
  }

  /** The front message was dropped: its callback. */
  droppedFront(): SendCallback | undefined {
    if (this.#untracked > 0) {
      this.#untracked--;
      return undefined;
    }
    return this.completed(1)[0];
  }

  /** The newest message was dropped: its callback. */
  droppedBack(): SendCallback | undefined {
    if (this.#head < this.#items.length) {
      const cb = this.#items.pop();
      this.#compact();
      return cb;
    }
    if (this.#untracked > 0) this.#untracked--;
    return undefined;
  }

  /** Everything still pending (the session ended): their callbacks. */
  drain(): SendCallback[] {
    const out = this.#items.slice(this.#head).filter((cb): cb is SendCallback => cb !== undefined);
    this.#items = [];
    this.#head = 0;
    this.#untracked = 0;
    return out;
  }

  #compact(): void {
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
