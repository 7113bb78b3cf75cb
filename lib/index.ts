// node-libwebsockets: a WebSocket client for long-lived connections.
import { WebSocketClient } from './client';
import { resolveOptions, type ConnectOptions } from './options';
import { native } from './native';

/**
 * Opens a connection and returns at once. Bad URLs and options throw
 * synchronously (TypeError/RangeError with a `code`); everything after that
 * is reported through events and `opened`.
 */
export function connect(url: string | URL, options?: ConnectOptions): WebSocketClient {
  return new WebSocketClient(resolveOptions(url, options ?? {}));
}

/** The libwebsockets version the addon was built with. */
export const lwsVersion: string = native.lwsVersion;

export { WebSocketClient, CONNECTING, OPEN, CLOSING, CLOSED } from './client';
export type { Message, SendData, ReadyState, WebSocketClientEvents } from './client';
export type { ConnectOptions, LogLevel } from './options';
export { WebSocketError } from './errors';
export { isValidCloseCode } from './close-codes';
