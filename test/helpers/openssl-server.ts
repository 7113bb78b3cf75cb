/**
 * A TLS server from the openssl CLI (`openssl s_server`), for failures
 * node:tls cannot produce: Node's TLS server checks a client certificate in
 * JS after the handshake and hangs up without an alert, while OpenSSL itself
 * refuses the handshake with the alert that names the problem.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyCert } from './certs';

export interface OpensslServer {
  port: number;
  close(): Promise<void>;
}

export interface OpensslServerOptions {
  pair: KeyCert;
  /** Require a client certificate signed by this CA (PEM); refuse others. */
  clientCa?: string;
  timeoutMs: number;
}

/** Starts `openssl s_server` on an ephemeral port of 127.0.0.1. */
export async function startOpensslServer(options: OpensslServerOptions): Promise<OpensslServer> {
  const dir = mkdtempSync(join(tmpdir(), 'nlws-s_server-'));
  writeFileSync(join(dir, 'key.pem'), options.pair.key);
  writeFileSync(join(dir, 'cert.pem'), options.pair.cert);
  const args = ['s_server', '-accept', '127.0.0.1:0', '-key', 'key.pem', '-cert', 'cert.pem'];
  if (options.clientCa !== undefined) {
    writeFileSync(join(dir, 'ca.pem'), options.clientCa);
    args.push('-CAfile', 'ca.pem', '-Verify', '1', '-verify_return_error');
  }
  const child: ChildProcess = spawn('/usr/bin/openssl', args, { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cleanup = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`openssl s_server did not listen within ${options.timeoutMs} ms: ${out}`)), options.timeoutMs);
      const onData = (chunk: Buffer): void => {
        out += chunk.toString();
        const m = /ACCEPT\s+\S*:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`openssl s_server exited (${code}): ${out}`));
      });
    });
    return { port, close: cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
