/**
 * A loopback port where TCP connects hang in SYN_SENT: a listener in a child
 * process that never accepts (test/fixtures/syn-blackhole.cjs), whose accept
 * queue this helper fills. Linux then drops further SYNs to it (the client
 * retransmits for minutes), which is deterministic, needs no privileges and
 * touches no firewall. A non-routable address would not do here: with no
 * route the connect fails at once, and with one the outcome is the network's.
 *
 * `waitSynSent` confirms the stage from the kernel's side: a socket in
 * SYN_SENT towards the port in /proc/net/tcp.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { runFixture, type ChildRun } from './child.js';
import { waitFor } from './wait.js';

export interface SynBlackhole {
  readonly port: number;
  /** ws://<first host>:port/ */
  readonly url: string;
  /** Resolves once some socket on this machine is in SYN_SENT towards the port (of `host`, default the first). */
  waitSynSent(timeoutMs: number, host?: string): Promise<void>;
  close(): Promise<void>;
}

export interface SynBlackholeOptions {
  /** Port to listen on (default 0: any). */
  port?: number;
  /** IPv4 loopback addresses, one listener each on the same port (default ['127.0.0.1']). */
  hosts?: string[];
}

export const SYN_SENT = '02';

/** /proc/net/tcp's form of an IPv4 address (little-endian hex). */
function procAddress(ipv4: string): string {
  return ipv4
    .split('.')
    .reverse()
    .map((b) => Number(b).toString(16).toUpperCase().padStart(2, '0'))
    .join('');
}

/** TCP states (hex, as in /proc/net/tcp) of IPv4 sockets whose remote end is `host`:`port` (default 127.0.0.1). */
export function tcpStatesTo(port: number, host = '127.0.0.1'): string[] {
  const remote = `${procAddress(host)}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[2] === remote)
    .map((f) => f[3] as string);
}

function connected(port: number, host: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, host);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`filling the accept queue of ${port}: no connect within ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export async function startSynBlackhole(timeoutMs = 10_000, options: SynBlackholeOptions = {}): Promise<SynBlackhole> {
  const hosts = options.hosts ?? ['127.0.0.1'];
  const child: ChildRun = runFixture('syn-blackhole.cjs', [String(options.port ?? 0), ...hosts], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = Number(await child.waitLine(/^\d+$/, timeoutMs));
  // Backlog 1 holds two completed connections; the third SYN is dropped.
  const fillers: Socket[] = [];
  for (const host of hosts) fillers.push(await connected(port, host, timeoutMs), await connected(port, host, timeoutMs));
  return {
    port,
    url: `ws://${hosts[0]}:${port}/`,
    waitSynSent: (ms, host = hosts[0]) =>
      waitFor(() => tcpStatesTo(port, host).includes(SYN_SENT), ms, { intervalMs: 10, label: `SYN_SENT towards ${host}:${port}` }),
    async close() {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
      await child.exited;
    },
  };
}
