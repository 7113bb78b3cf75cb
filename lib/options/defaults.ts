// The options' defaults: the only table of them. The native layer has none
// (it is sent every field); the README's options tables document these.

const MiB = 1024 * 1024;

/**
 * The default schedule, upper bounds of full-jitter draws. A server that
 * drops every client at once (a restart) sees them come back spread
 * uniformly over the first 1.8 s: a median of 0.9 s, and about 5.6 % of
 * them in any 100 ms (bench/herd.js measures it: README, persistence).
 * The means (0.9, 1.8, 3.6, 7.5, 15, 30 s) keep a long outage's retry rate
 * near the former schedule's (500 ms to 30 s plus 0-30 %).
 */
export const DEFAULT_BACKOFF_MS = [1800, 3600, 7200, 15000, 30000, 60000] as const;

export const DEFAULTS = {
  // connection
  followRedirects: false,
  maxRedirects: 10,
  autoSelectFamily: true,
  autoSelectFamilyAttemptTimeout: 250,
  family: 0,
  perMessageDeflate: true,
  autoPong: true,
  maxPayload: 100 * MiB,
  skipUTF8Validation: false,
  textAsBuffer: false,
  handshakeTimeout: 30000,
  closeTimeout: 5000,
  highWaterMark: MiB,
  /** lowWaterMark: this fraction of highWaterMark. */
  lowWaterMarkFraction: 1 / 4,
  receiveHighWaterMark: 16 * MiB,
  fragmentSize: 64 * 1024,
  rejectUnauthorized: true,
  allowSelfSigned: false,
  allowUnknownCA: false,
  allowInvalidDates: false,
  allowHostMismatch: false,
  proxyFromEnv: false,
  // session
  configTimeoutMs: 10000,
  eventLogSize: 100,
  stallTimeoutMs: 0,
  maxConnectionAgeMs: 0,
  maxConnectionAgeJitterPercent: 10,
  rotationOverlapMs: 1000,
  reconnect: {
    backoffMs: DEFAULT_BACKOFF_MS,
    /** 'add' when only jitterPercent is given. */
    jitter: 'full',
    jitterPercent: 30,
    maxRetryAfterMs: 3_600_000,
    maxAttempts: 0,
    resetAfterMs: 30000,
    onNormalClose: true,
  },
  heartbeat: { intervalMs: 30000, timeoutMs: 10000, pongOnly: false },
  queue: { maxMessages: 1000, maxBytes: 16 * MiB, ttlMs: 0, overflow: 'reject' },
} as const;
