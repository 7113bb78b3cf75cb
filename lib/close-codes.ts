// Close codes and reasons as RFC 6455 section 7.4 allows them.
import { rangeError } from './errors';

/** Codes an endpoint may send in a Close frame. */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014 && code !== 1004) ||
    (code >= 3000 && code <= 4999)
  );
}

export const MAX_CLOSE_REASON_BYTES = 123;

/** Checks close(code, reason) arguments; returns the reason as bytes. */
export function checkCloseArgs(code: number, reason: string | Buffer): Buffer {
  if (!Number.isInteger(code) || !isValidCloseCode(code)) {
    throw rangeError('ERR_INVALID_CLOSE_CODE', `invalid close code: ${String(code)}`);
  }
  const bytes = typeof reason === 'string' ? Buffer.from(reason, 'utf8') : reason;
  if (bytes.length > MAX_CLOSE_REASON_BYTES) {
    throw rangeError(
      'ERR_INVALID_CLOSE_REASON',
      `close reason is ${bytes.length} bytes; at most ${MAX_CLOSE_REASON_BYTES} fit a Close frame`,
    );
  }
  return bytes;
}
