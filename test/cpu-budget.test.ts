/**
 * The service thread busy-polls after handing JS a batch only when the
 * process has two CPUs at least: on one (an affinity mask of one CPU, or a
 * cgroup CPU quota below two) the spin would take the CPU from the JS thread
 * it waits for. Observed through what the addon reports (serviceInfo(): the
 * window its loop uses), in children pinned with taskset and not, and the
 * cgroup reading through trees laid out like /proc and /sys/fs/cgroup.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { addon as native, type ServiceInfo } from '../dist/cjs/binding.js';
import { ChildRun, exitOutcome, FIXTURES, killAll } from './helpers/child';

afterEach(killAll);

interface Reported {
  before: ServiceInfo;
  started: ServiceInfo;
}

async function serviceInfoOf(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Reported> {
  const child = new ChildRun(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const result = await child.waitExit(30_000);
  const context = `stderr:\n${result.stderr}\nstdout:\n${result.stdout}`;
  expect(exitOutcome(result), context).toEqual({ code: 0, signal: null, crashText: null });
  const line = child.outputLines.find((l) => l.startsWith('{'));
  expect(line, context).toBeDefined();
  return JSON.parse(line as string) as Reported;
}

const fixture = join(FIXTURES, 'service-info.cjs');

describe('busy-polling and the CPUs the process has', () => {
  it('a process pinned to one CPU (taskset -c 0) never spins', async () => {
    const r = await serviceInfoOf('taskset', ['-c', '0', process.execPath, fixture]);
    for (const info of [r.before, r.started]) {
      expect(info).toMatchObject({ cpus: 1, spinAllowed: false, spinUs: 0 });
    }
  });

  it('an unpinned process spins when it has two CPUs and no quota below two', async () => {
    const r = await serviceInfoOf(process.execPath, [fixture]);
    const expected = os.availableParallelism();
    expect(r.started.cpus).toBe(expected);
    const two = expected >= 2 && (r.started.cpuQuota === null || r.started.cpuQuota >= 2);
    expect(r.started).toMatchObject({ spinAllowed: two, spinUs: two ? 100 : 0 });
  });

  it('NLWS_SPIN_US=0 turns spinning off whatever the CPUs', async () => {
    const r = await serviceInfoOf(process.execPath, [fixture], { ...process.env, NLWS_SPIN_US: '0' });
    expect(r.started.spinUs).toBe(0);
  });
});

describe('the cgroup CPU quota', () => {
  const roots: string[] = [];
  afterAll(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  /** A directory laid out like a live system: files under /proc/self and the cgroup mounts. */
  function tree(files: Record<string, string>): string {
    const root = mkdtempSync(join(os.tmpdir(), 'nlws-cgroup-'));
    roots.push(root);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }
  const V2_MOUNT = '31 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw\n';
  const V1_MOUNTS =
    '32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct\n' +
    '33 31 0:30 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory\n';

  it('v2 cpu.max below two CPUs counts as one: no spinning with four CPUs', () => {
    const root = tree({
      'proc/self/mountinfo': V2_MOUNT,
      'proc/self/cgroup': '0::/app/web\n',
      'sys/fs/cgroup/app/web/cpu.max': '150000 100000\n',
    });
    expect(native.testing.cpuBudget(root, 4)).toEqual({ cpus: 4, cpuQuota: 1.5, spinAllowed: false });
  });

  it('v2 cpu.max of two CPUs or more, or "max", allows it', () => {
    const two = tree({
      'proc/self/mountinfo': V2_MOUNT,
      'proc/self/cgroup': '0::/app\n',
      'sys/fs/cgroup/app/cpu.max': '200000 100000\n',
    });
    expect(native.testing.cpuBudget(two, 4)).toEqual({ cpus: 4, cpuQuota: 2, spinAllowed: true });
    const none = tree({
      'proc/self/mountinfo': V2_MOUNT,
      'proc/self/cgroup': '0::/app\n',
      'sys/fs/cgroup/app/cpu.max': 'max 100000\n',
    });
    expect(native.testing.cpuBudget(none, 4)).toEqual({ cpus: 4, cpuQuota: null, spinAllowed: true });
  });

  it('a parent cgroup’s quota applies to the process in its child', () => {
    const root = tree({
      'proc/self/mountinfo': V2_MOUNT,
      'proc/self/cgroup': '0::/pod/container\n',
      'sys/fs/cgroup/pod/cpu.max': '100000 100000\n',
      'sys/fs/cgroup/pod/container/cpu.max': 'max 100000\n',
    });
    expect(native.testing.cpuBudget(root, 8)).toEqual({ cpus: 8, cpuQuota: 1, spinAllowed: false });
  });

  it('inside a cgroup namespace the mount’s root is the process’s cgroup', () => {
    const root = tree({
      'proc/self/mountinfo': '40 23 0:38 /kubepods/pod1 /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n',
      'proc/self/cgroup': '0::/kubepods/pod1\n',
      'sys/fs/cgroup/cpu.max': '50000 100000\n',
    });
    expect(native.testing.cpuBudget(root, 2)).toEqual({ cpus: 2, cpuQuota: 0.5, spinAllowed: false });
  });

  it('v1 cpu.cfs_quota_us / cpu.cfs_period_us, -1 meaning none', () => {
    const limited = tree({
      'proc/self/mountinfo': V1_MOUNTS,
      'proc/self/cgroup': '5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n',
      'sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '50000\n',
      'sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
    });
    expect(native.testing.cpuBudget(limited, 2)).toEqual({ cpus: 2, cpuQuota: 0.5, spinAllowed: false });
    const unlimited = tree({
      'proc/self/mountinfo': V1_MOUNTS,
      'proc/self/cgroup': '4:cpu,cpuacct:/docker/abc\n',
      'sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '-1\n',
      'sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
    });
    expect(native.testing.cpuBudget(unlimited, 2)).toEqual({ cpus: 2, cpuQuota: null, spinAllowed: true });
  });

  it('one CPU in the mask is one CPU whatever the quota; nothing readable means no quota', () => {
    const empty = tree({ 'proc/self/cgroup': '0::/\n' });
    expect(native.testing.cpuBudget(empty, 1)).toEqual({ cpus: 1, cpuQuota: null, spinAllowed: false });
    expect(native.testing.cpuBudget(empty, 2)).toEqual({ cpus: 2, cpuQuota: null, spinAllowed: true });
  });
});
