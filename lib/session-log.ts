// The library's own log lines of a session: state changes, attempts and
// their delays, failures with their cause, rotations, drops. They go to
// stderr under NODE_DEBUG=nlws (util.debuglog) and to the session's
// `logger`, which also gets lws's lines about this session's connections
// (lws's process-wide lines are under NODE_DEBUG=libwebsockets only).
import { debuglog } from 'node:util';
import type { LogLevel } from './options/types';

const debug = debuglog('nlws');

export type Logger = (level: LogLevel, line: string) => void;

export class SessionLog {
  readonly #id: number;
  readonly #url: () => string;
  readonly #logger: Logger | undefined;

  constructor(id: number, url: () => string, logger: Logger | undefined) {
    this.#id = id;
    this.#url = url;
    this.#logger = logger;
  }

  /** Whether anyone reads the lines (so callers skip building them). */
  get enabled(): boolean {
    return this.#logger !== undefined || debug.enabled;
  }

  /** A line of the library's: "session <id> <url>: <text>". */
  line(level: LogLevel, text: string): void {
    if (!this.enabled) return;
    const line = `session ${this.#id} ${this.#url()}: ${text}`;
    if (debug.enabled) debug('%s %s', level, line);
    this.#logger?.(level, line);
  }

  /** An lws line about one of the session's connections (logger only). */
  lws(level: LogLevel, line: string): void {
    this.#logger?.(level, `session ${this.#id} lws: ${line}`);
  }
}
