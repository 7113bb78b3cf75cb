/**
 * Child processes for lifecycle/packaging tests: spawn a script, read its
 * stdout line by line, wait for a line or for its exit with a bounded
 * timeout (on timeout the child is SIGKILLed and the wait rejects with what
 * it printed), and make sure nothing is left running after a test.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { join } from 'node:path';
import { TimeoutError } from './wait.js';

export const ROOT = join(__dirname, '..', '..');
export const FIXTURES = join(__dirname, '..', 'fixtures');

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Text that must never appear on a child's stderr: C/C++ asserts (lws uses
 * assert()), aborts, segfaults, heap corruption and V8/N-API fatal errors.
 */
export const CRASH_TEXT =
  /Abort|Assertion|assertion failed|Segmentation|lws_assert|FATAL ERROR|core dumped|double free|corrupted|munmap_chunk|free\(\)|napi_fatal/;

/** Every child still running; `killAll()` in afterEach ends them. */
const running = new Set<ChildRun>();

export class ChildRun {
  readonly proc: ChildProcess;
  readonly label: string;
  stdout = '';
  stderr = '';
  /** Resolves when the process has exited and its stdio has closed (never rejects). */
  readonly exited: Promise<ChildResult>;
  private readonly lines: string[] = [];
  private partial = '';
  private readonly lineListeners = new Set<() => void>();

  constructor(command: string, args: readonly string[], options: SpawnOptions = {}) {
    this.label = `${command} ${args.join(' ')}`;
    const env = { ...(options.env ?? process.env) };
    // Whatever the test runner put there is not for the child.
    delete env.NODE_OPTIONS;
    this.proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options, env });
    running.add(this);
    this.proc.stdout?.setEncoding('utf8');
    this.proc.stderr?.setEncoding('utf8');
    this.proc.stdout?.on('data', (chunk: string) => {
      this.stdout += chunk;
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop() ?? '';
      if (parts.length > 0) {
        this.lines.push(...parts);
        for (const l of [...this.lineListeners]) l();
      }
    });
    this.proc.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    // EPIPE when writing to a child that already went away is not a test failure.
    this.proc.stdin?.on('error', () => undefined);
    this.exited = new Promise<ChildResult>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        running.delete(this);
        if (this.partial) {
          this.lines.push(this.partial);
          this.partial = '';
        }
        for (const l of [...this.lineListeners]) l();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      };
      this.proc.once('close', done);
      this.proc.once('error', (error) => {
        this.stderr += `\n[spawn error] ${error.message}`;
        done(null, null);
      });
    });
  }

  /** Still running (no exit code and no signal yet). */
  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Complete stdout lines so far. */
  get outputLines(): readonly string[] {
    return this.lines;
  }

  private describe(): string {
    return `${this.label}\n--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }

  /**
   * Wait for a stdout line equal to `match` (string) or matching it (RegExp).
   * Rejects if the child exits first or after `timeoutMs`.
   */
  waitLine(match: string | RegExp, timeoutMs: number): Promise<string> {
    const test = (line: string): boolean => (typeof match === 'string' ? line === match : match.test(line));
    return new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const found = this.lines.find(test);
        if (found !== undefined) {
          cleanup();
          resolve(found);
        } else if (!this.alive || this.proc.stdout?.readableEnded) {
          cleanup();
          reject(new Error(`child ended before printing ${String(match)}: ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new TimeoutError(`line ${String(match)} from ${this.describe()}`, timeoutMs));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.lineListeners.delete(check);
      };
      this.lineListeners.add(check);
      check();
    });
  }

  /** Write one line to the child's stdin. */
  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.alive) this.proc.kill(signal);
  }

  /**
   * Wait for the exit. After `timeoutMs` the child is SIGKILLed and this
   * rejects with everything it printed: a hang is a failure, not a stuck run.
   */
  async waitExit(timeoutMs: number): Promise<ChildResult & { ms: number }> {
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`child did not exit within ${timeoutMs} ms (killed): ${this.describe()}`);
    }
    return { ...result, ms: performance.now() - start };
  }
}

/** Run a fixture script from test/fixtures with this Node binary. */
export function runFixture(
  name: string,
  args: readonly string[] = [],
  options: SpawnOptions & { nodeArgs?: readonly string[] } = {},
): ChildRun {
  const { nodeArgs = [], ...spawnOptions } = options;
  return new ChildRun(process.execPath, [...nodeArgs, join(FIXTURES, name), ...args], spawnOptions);
}

/** SIGKILL every child still running and wait for them (afterEach). */
export async function killAll(): Promise<void> {
  const all = [...running];
  for (const c of all) c.proc.kill('SIGKILL');
  await Promise.all(all.map((c) => c.exited));
}

/**
 * How a child ended, for one assertion that shows everything at once:
 * `expect(exitOutcome(r)).toEqual({ code: 0, signal: null, crashText: null })`.
 */
export function exitOutcome(result: ChildResult): {
  code: number | null;
  signal: NodeJS.Signals | null;
  crashText: string | null;
} {
  const match = CRASH_TEXT.exec(result.stderr);
  const crashText = match ? (result.stderr.split('\n').find((l) => CRASH_TEXT.test(l)) ?? match[0]) : null;
  return { code: result.code, signal: result.signal, crashText };
}
