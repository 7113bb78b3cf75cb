// The arguments of send(), ping() and pong() (and onOpen's send) checked and
// turned into what the addon takes: a string or bytes, whether the message
// is binary, and its size in bytes (for bufferedAmount).
import { isUtf8 as isUtf8Buffer } from 'node:buffer';
import { typeError } from './errors';
import type { SendData, SendOptions } from './events';

export interface Payload {
  payload: string | Uint8Array;
  binary: boolean;
  size: number;
}

function toBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** A message of send(): strings are text, bytes binary, unless `options.binary` says otherwise. */
export function messagePayload(data: SendData, options: SendOptions): Payload {
  if (typeof options !== 'object' || options === null) {
    throw typeError('ERR_INVALID_ARG_TYPE', 'send() options must be an object');
  }
  const given = options.binary as unknown;
  if (given !== undefined && typeof given !== 'boolean') {
    throw typeError('ERR_INVALID_ARG_TYPE', 'send() option binary must be a boolean');
  }
  if (typeof data === 'string') {
    return { payload: data, binary: given === true, size: Buffer.byteLength(data) };
  }
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    const payload = toBytes(data);
    const binary = given !== false;
    if (!binary && !isUtf8Buffer(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength))) {
      throw typeError('ERR_INVALID_UTF8', 'a text message must be valid UTF-8');
    }
    return { payload, binary, size: payload.byteLength };
  }
  throw typeError('ERR_INVALID_ARG_TYPE', 'send() takes a string, Buffer, ArrayBuffer or ArrayBufferView');
}

/** The payload of a Ping or Pong: at most 125 bytes (RFC 6455 5.5). */
export function controlPayload(method: 'ping' | 'pong', data: unknown): Buffer {
  let bytes: Buffer;
  if (typeof data === 'string') bytes = Buffer.from(data);
  else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) bytes = Buffer.from(toBytes(data));
  else throw typeError('ERR_INVALID_ARG_TYPE', `${method}() takes a string, Buffer, ArrayBuffer or ArrayBufferView`);
  if (bytes.length > 125) throw typeError('ERR_INVALID_ARG_VALUE', `${method} payload is limited to 125 bytes`);
  return bytes;
}
