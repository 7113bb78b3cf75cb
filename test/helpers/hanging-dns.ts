/**
 * A name lookup that hangs, for one child process: a UDP "DNS server" on a
 * loopback address that records every query and answers none (unless told
 * to), and a command line that runs the child in a private mount namespace
 * whose /etc/resolv.conf names that server. The child keeps this machine's
 * network namespace (it reaches the test's loopback servers); nothing outside
 * the child sees the changed resolv.conf.
 *
 * Why not the machine's resolver: what it does with an unknown name is not
 * ours to decide (here it answers NXDOMAIN at once; elsewhere it may time out
 * after glibc's 5 s x 2 attempts). Ours never answers, and glibc is told to
 * wait its maximum (30 s x 5 attempts), so a lookup outlasts any test.
 *
 * Needs root (or CAP_SYS_ADMIN) for `unshare --mount`; `privateResolvConf`
 * says whether it works here and, if not, why.
 */
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsyncQueue } from './queue.js';

export interface DnsQuery {
  id: number;
  /** Queried name, lower-case, without the final dot. */
  name: string;
  /** 1 = A, 28 = AAAA. */
  type: number;
  from: { address: string; port: number };
  raw: Buffer;
}

export interface HangingDns {
  /** Loopback address the server listens on (port 53). */
  readonly address: string;
  /** A resolv.conf naming only this server, with glibc's longest timeouts. */
  readonly resolvConf: string;
  readonly queries: AsyncQueue<DnsQuery>;
  /** Answer a recorded query: an A record for `ipv4` (AAAA: none), or NXDOMAIN when null. */
  answer(query: DnsQuery, ipv4: string | null): void;
  /** Answer every query not answered yet, and each new one, until `hang()`. */
  answerAll(ipv4: string | null): void;
  /** Stop answering (the default). */
  hang(): void;
  /**
   * Command and arguments running `command args...` with this server as its
   * only resolver (for ChildRun).
   */
  wrap(command: string, args: readonly string[]): [string, string[]];
  close(): Promise<void>;
}

const MOUNT_SCRIPT = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"';

function unshareArgs(resolvConf: string, command: string, args: readonly string[]): string[] {
  return ['--mount', '--propagation', 'private', 'sh', '-c', MOUNT_SCRIPT, 'sh', resolvConf, command, ...args];
}

/** Whether a private /etc/resolv.conf can be mounted here; `why` when not. */
export const privateResolvConf: { ok: boolean; why: string } = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'nlws-resolv-probe-'));
  try {
    const file = join(dir, 'resolv.conf');
    writeFileSync(file, 'nameserver 127.0.0.1\n');
    const r = spawnSync('unshare', unshareArgs(file, 'cat', ['/etc/resolv.conf']), { encoding: 'utf8' });
    if (r.error) return { ok: false, why: `unshare not runnable: ${r.error.message}` };
    if (r.status !== 0 || r.stdout !== 'nameserver 127.0.0.1\n') {
      return { ok: false, why: `unshare --mount needs root (CAP_SYS_ADMIN): ${r.stderr.trim() || `exit ${r.status}`}` };
    }
    return { ok: true, why: '' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

function parseQuery(msg: Buffer, from: { address: string; port: number }): DnsQuery | null {
  if (msg.length < 17) return null;
  const labels: string[] = [];
  let at = 12;
  // Bounded by the message length: each label moves `at` forward.
  while (at < msg.length) {
    const len = msg[at] as number;
    if (len === 0) break;
    if (len > 63 || at + 1 + len > msg.length) return null;
    labels.push(msg.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += 1 + len;
  }
  if (at + 5 > msg.length) return null;
  return { id: msg.readUInt16BE(0), name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(at + 1), from, raw: msg };
}

function response(query: DnsQuery, ipv4: string | null): Buffer {
  const q = query.raw;
  // Header + the question as received (up to the end of QTYPE/QCLASS).
  let end = 12;
  while ((q[end] as number) !== 0) end += 1 + (q[end] as number);
  end += 5;
  const out = Buffer.from(q.subarray(0, end));
  const withAnswer = ipv4 !== null && query.type === 1;
  out.writeUInt16BE(0x8180 | (ipv4 === null ? 3 : 0), 2); // QR, RD, RA; rcode NXDOMAIN or NOERROR
  out.writeUInt16BE(1, 4); // QDCOUNT
  out.writeUInt16BE(withAnswer ? 1 : 0, 6); // ANCOUNT
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(0, 10);
  if (!withAnswer) return out;
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question
  rr.writeUInt16BE(1, 2); // A
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(60, 6); // TTL
  rr.writeUInt16BE(4, 10);
  ipv4.split('.').forEach((part, i) => rr.writeUInt8(Number(part), 12 + i));
  return Buffer.concat([out, rr]);
}

function bind(socket: Socket, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address, port: 53, exclusive: true }, () => {
      socket.removeListener('error', reject);
      resolve();
    });
  });
}

/** Starts the server on a free 127.53.x.y:53 (x.y from the pid, so parallel runs differ). */
export async function startHangingDns(): Promise<HangingDns> {
  let socket: Socket | undefined;
  let address = '';
  // Bounded: a few neighbouring addresses if one is taken.
  for (let i = 0; i < 8 && !socket; i++) {
    const n = (process.pid + i) % 65024;
    address = `127.53.${(n >> 8) & 255}.${(n & 255) || 1}`;
    const s = createSocket('udp4');
    try {
      await bind(s, address);
      socket = s;
    } catch (error) {
      s.close();
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || i === 7) throw error;
    }
  }
  const udp = socket as Socket;
  const queries = new AsyncQueue<DnsQuery>('DNS queries');
  const unanswered = new Set<DnsQuery>();
  let auto: { ipv4: string | null } | null = null;
  const answer = (query: DnsQuery, ipv4: string | null): void => {
    unanswered.delete(query);
    udp.send(response(query, ipv4), query.from.port, query.from.address);
  };
  udp.on('message', (msg, rinfo) => {
    const q = parseQuery(msg, { address: rinfo.address, port: rinfo.port });
    if (!q) return;
    unanswered.add(q);
    queries.push(q);
    if (auto) answer(q, auto.ipv4);
  });
  const dir = mkdtempSync(join(tmpdir(), 'nlws-resolv-'));
  const resolvConf = join(dir, 'resolv.conf');
  writeFileSync(resolvConf, `nameserver ${address}\noptions timeout:30 attempts:5\n`);
  return {
    address,
    resolvConf,
    queries,
    answer,
    answerAll(ipv4) {
      auto = { ipv4 };
      for (const q of [...unanswered]) answer(q, ipv4);
    },
    hang() {
      auto = null;
    },
    wrap(command, args) {
      return ['unshare', unshareArgs(resolvConf, command, args)];
    },
    close: () =>
      new Promise<void>((resolve) => {
        queries.end();
        rmSync(dir, { recursive: true, force: true });
        udp.close(() => resolve());
      }),
  };
}
