// A session's messages as an async iterator (for await ... of client): the
// messages from the first next() on, in order, until the session closes.
import type { Message, WebSocketClientEvents } from './events';
import type { TypedEmitter } from './typed-emitter';

export async function* messagesOf(
  session: TypedEmitter<WebSocketClientEvents>,
  isClosed: () => boolean,
): AsyncGenerator<Message, void, undefined> {
  const queue: Message[] = [];
  let done = isClosed();
  let wake: (() => void) | undefined;
  const onMessage = (data: string | Buffer, isBinary: boolean): void => {
    queue.push({ data, isBinary });
    wake?.();
  };
  const onClose = (): void => {
    done = true;
    wake?.();
  };
  session.on('message', onMessage);
  session.on('close', onClose);
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
    session.off('message', onMessage);
    session.off('close', onClose);
  }
}
