/**
 * A child process with its own /etc/hosts and its own network: `unshare
 * --mount --net` gives it a private mount namespace (the hosts file the
 * test wrote is bind-mounted over /etc/hosts; nothing outside sees it) and
 * a private network namespace with only a loopback device, brought up here.
 * Its loopback addresses and ports are nobody else's, and with no other
 * interface getaddrinfo's AI_ADDRCONFIG keeps both families, so a name can
 * map to ::1 and 127.0.0.1 at once.
 *
 * Needs root (CAP_SYS_ADMIN) and iproute2; `privateHosts` says whether it
 * works here and, if not, why.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = 'ip link set lo up && mount --bind "$1" /etc/hosts && shift && exec "$@"';

function unshareArgs(hostsFile: string, command: string, args: readonly string[]): string[] {
  return ['--mount', '--net', '--propagation', 'private', 'sh', '-c', SCRIPT, 'sh', hostsFile, command, ...args];
}

/** Whether a private /etc/hosts and network can be had here; `why` when not. */
export const privateHosts: { ok: boolean; why: string } = (() => {
  const dir = mkdtempSync(join(tmpdir(), 'nlws-hosts-probe-'));
  try {
    const file = join(dir, 'hosts');
    writeFileSync(file, '127.0.0.9 probe.nlws.test\n');
    const r = spawnSync('unshare', unshareArgs(file, 'getent', ['hosts', 'probe.nlws.test']), { encoding: 'utf8' });
    if (r.error) return { ok: false, why: `unshare not runnable: ${r.error.message}` };
    if (r.status !== 0 || !r.stdout.startsWith('127.0.0.9')) {
      return { ok: false, why: `unshare --mount --net needs root (CAP_SYS_ADMIN): ${r.stderr.trim() || `exit ${r.status}`}` };
    }
    return { ok: true, why: '' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

export interface PrivateHosts {
  /** Command and arguments running `command args...` with these hosts (for ChildRun). */
  wrap(command: string, args: readonly string[]): [string, string[]];
  remove(): void;
}

/** A hosts file with these lines ("address name"). */
export function hostsFile(lines: readonly string[]): PrivateHosts {
  const dir = mkdtempSync(join(tmpdir(), 'nlws-hosts-'));
  const file = join(dir, 'hosts');
  writeFileSync(file, `${['127.0.0.1 localhost', ...lines].join('\n')}\n`);
  return {
    wrap: (command, args) => ['unshare', unshareArgs(file, command, args)],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
