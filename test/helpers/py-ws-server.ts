/**
 * Python `websockets` (Debian's python3-websockets, scripts/setup.sh) as a
 * second, independent server with permessage-deflate: py-ws-server.py in a
 * child process, driven over its stdin/stdout (see that file).
 *
 * Debian's interpreter, /usr/bin/python3, is the one that has the module (a
 * `python3` earlier on PATH, e.g. pyenv's, may not); PYTHON overrides it.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ChildRun } from './child';
import { AsyncQueue } from './queue';

export const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const SCRIPT = join(__dirname, 'py-ws-server.py');

export interface PyDeflateConfig {
  server_max_window_bits?: number | null;
  client_max_window_bits?: number | null;
  server_no_context_takeover?: boolean;
  client_no_context_takeover?: boolean;
}

/** A message as the Python server received it (digest, not bytes). */
export interface PyReceived {
  binary: boolean;
  length: number;
  sha256: string;
}

export interface PyEvent {
  event: 'open' | 'message' | 'close';
  extensions?: string;
  binary?: boolean;
  length?: number;
  sha256?: string;
  code?: number;
  reason?: string;
}

export class PyWsServer {
  readonly child: ChildRun;
  readonly events: AsyncQueue<PyEvent>;
  port = 0;
  private seen = 0;

  private constructor(config: PyDeflateConfig) {
    this.child = new ChildRun(PYTHON, ['-u', SCRIPT, JSON.stringify(config)]);
    this.events = new AsyncQueue<PyEvent>('python websockets server event');
    this.child.proc.stdout?.on('data', () => this.pump());
    void this.child.exited.then(() => {
      this.pump();
      this.events.end(new Error(`python server exited: ${this.child.stderr.slice(-2000)}`));
    });
  }

  static async start(config: PyDeflateConfig, timeoutMs = 20_000): Promise<PyWsServer> {
    const s = new PyWsServer(config);
    const line = await s.child.waitLine(/^\{"port"/, timeoutMs);
    s.port = (JSON.parse(line) as { port: number }).port;
    return s;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/`;
  }

  private pump(): void {
    const lines = this.child.outputLines;
    for (; this.seen < lines.length; this.seen++) {
      const line = lines[this.seen] as string;
      if (line.startsWith('{"event"')) this.events.push(JSON.parse(line) as PyEvent);
    }
  }

  /** Sends one message, cut into frames at `cuts` (byte offsets). */
  send(data: Buffer, binary: boolean, cuts: readonly number[] = []): void {
    this.child.send(JSON.stringify({ cmd: 'send', binary, data: data.toString('base64'), cuts }));
  }

  close(code = 1000): void {
    this.child.send(JSON.stringify({ cmd: 'close', code }));
  }

  async stop(): Promise<void> {
    this.child.proc.stdin?.end();
    this.child.kill('SIGKILL');
    await this.child.exited;
  }
}

export function digest(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
