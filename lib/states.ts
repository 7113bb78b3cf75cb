// The closed lists a session reports in: its states and the causes of a
// lost connection or failed attempt (native/policy.cc, CauseName, is the
// source of the causes; test/docs.test.ts keeps the three in step with the README).

/** A session's state: `reconnecting` is the wait between attempts. */
export type SessionState = 'connecting' | 'open' | 'reconnecting' | 'closing' | 'closed';

/**
 * Why a connection or attempt ended:
 * `refused` TCP connection refused; `network` reset, unreachable or dropped
 * (1006); `dns` name resolution failed; `timeout` opening handshake timed
 * out; `tls` TLS handshake or certificate failure; `http` the upgrade was
 * answered with another status; `proxy` the HTTP proxy refused the
 * CONNECT; `handshake` a bad 101 (accept key, extensions, subprotocol);
 * `heartbeat` no proof of life in time; `stall` no message within
 * stallTimeoutMs; `close` the server closed with a code; `protocol` the
 * client failed the connection (1002, 1007, 1009); `config` the
 * url/headers functions or onOpen failed; `user` close() or terminate().
 */
export type Cause =
  | 'refused'
  | 'network'
  | 'dns'
  | 'timeout'
  | 'tls'
  | 'http'
  | 'proxy'
  | 'handshake'
  | 'heartbeat'
  | 'stall'
  | 'close'
  | 'protocol'
  | 'config'
  | 'user';
