// The package under test, as built (dist/), exactly as users load it.
import { connect, type ConnectOptions, type UrlInput, type WebSocketClient } from '../dist/cjs/index.js';

export * from '../dist/cjs/index.js';

/**
 * One connection, no reconnection: the single-connection semantics (close
 * events, errors, codes) that the foundation tests check.
 */
export function connectOnce(url: UrlInput, options: ConnectOptions = {}): WebSocketClient {
  return connect(url, { reconnect: false, ...options });
}
