import { expect } from 'vitest';
import { WebSocketClient, type WebSocketError } from '../lib';
import { once } from './wait';

/**
 * Expects a single-connection client's attempt to fail: an 'error' naming
 * the URL (returned), `opened` rejecting with that same error, then close
 * 1006, no 'open' at any point, and the error kept as lastError.
 */
export async function expectFailedAttempt(c: WebSocketClient, timeoutMs: number): Promise<WebSocketError> {
  let opened = false;
  c.on('open', () => {
    opened = true;
  });
  const errP = once<[WebSocketError]>(c, 'error', timeoutMs);
  const closeP = once<[number, string]>(c, 'close', timeoutMs, { rejectOnError: false });
  const [err] = await errP;
  expect(err.url).toBe(c.url);
  await expect(c.opened).rejects.toBe(err);
  expect((await closeP)[0]).toBe(1006);
  expect(opened).toBe(false);
  expect(c.readyState).toBe(WebSocketClient.CLOSED);
  expect(c.lastError).toBe(err);
  return err;
}
