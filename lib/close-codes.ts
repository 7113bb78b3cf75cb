// Close codes and reasons as RFC 6455 section 7.4 allows them.
import { isUtf8 } from 'node:buffer';
import { describeValue, rangeError, typeError } from './errors';

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
    throw rangeError('ERR_INVALID_CLOSE_CODE', `invalid close code: ${describeValue(code)}`);
  }
  let bytes: Buffer;
  if (typeof reason === 'string') {
    bytes = Buffer.from(reason, 'utf8');
  } else if (Buffer.isBuffer(reason)) {
    // RFC 6455 7.1.6: the reason is UTF-8; the server would fail the
    // connection (1007) instead of completing the closing handshake.
    if (!isUtf8(reason)) throw typeError('ERR_INVALID_CLOSE_REASON', 'close reason must be valid UTF-8');
    bytes = reason;
  } else {
    throw typeError('ERR_INVALID_ARG_TYPE', 'close reason must be a string or a Buffer');
  }
  if (bytes.length > MAX_CLOSE_REASON_BYTES) {
    throw rangeError(
      'ERR_INVALID_CLOSE_REASON',
      `close reason is ${bytes.length} bytes; at most ${MAX_CLOSE_REASON_BYTES} fit a Close frame`,
    );
  }
  return bytes;
}
