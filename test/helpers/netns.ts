/**
 * Two network namespaces joined by an impaired link, for the network-fault
 * tests: a client namespace (10.77.0.1) and a server namespace (10.77.0.2),
 * each with its loopback up and one TUN device whose far end is
 * test/helpers/impair.py (delay, jitter, loss, cut; see there for why a
 * userspace forwarder and not `tc netem`).
 *
 * Names carry this process's pid (`nlws-c-<pid>`, `nlws-s-<pid>`, devices
 * `nlwc<pid>`/`nlws<pid>`), so a leftover of a killed run never collides
 * with a new one; `createTopology` also deletes leftovers whose pid is no
 * longer running, and `destroy` (afterAll) deletes what it made whatever
 * happened. Without root, `probeNetns` says why namespaces cannot be made.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ChildRun } from './child.js';

export const CLIENT_ADDR = '10.77.0.1';
export const SERVER_ADDR = '10.77.0.2';
const IMPAIR = join(__dirname, 'impair.py');
const NAME = /^nlws-(?:c|s|probe)-(\d+)$/;

export interface NetnsSupport {
  ok: boolean;
  /** Why namespaces cannot be created here (empty when ok). */
  reason: string;
}

/** Whether this process can create a network namespace (root, iproute2, kernel support). Synchronous, for skipIf. */
export function probeNetns(): NetnsSupport {
  if (process.platform !== 'linux') return { ok: false, reason: 'network namespaces need Linux' };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespaces need root (run as root, as CI does)' };
  const name = `nlws-probe-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (add.error) return { ok: false, reason: `iproute2 'ip' not usable: ${add.error.message}` };
  if (add.status !== 0) return { ok: false, reason: `ip netns add failed: ${add.stderr.trim()}` };
  spawnSync('ip', ['netns', 'del', name]);
  return { ok: true, reason: '' };
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Delete namespaces of earlier runs whose process is gone (a SIGKILLed run skips afterAll). */
function deleteLeftovers(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of list.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = NAME.exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) spawnSync('ip', ['netns', 'del', name]);
  }
}

export interface Impairment {
  /** One-way delay, ms, each direction. */
  delayMs: number;
  /** Uniform jitter, +/- ms, around the delay. */
  jitterMs: number;
  /** Probability 0..1 that a packet is lost, each direction. */
  loss: number;
}

export interface LinkReply {
  ev: string;
  id: string;
  /** Wall-clock ms when the forwarder applied the command. */
  at: number;
  [k: string]: unknown;
}

export interface LinkCounts {
  read: number;
  forwarded: number;
  lost: number;
  cut: number;
}

/** The forwarder process, driven over its stdin. */
export class ImpairedLink {
  private nextId = 1;

  constructor(readonly proc: ChildRun) {}

  private async command(line: string, timeoutMs = 5000): Promise<LinkReply> {
    const id = String(this.nextId++);
    const reply = this.proc.waitLine(new RegExp(`"id":"${id}"`), timeoutMs);
    this.proc.send(`${id} ${line}`);
    const parsed = JSON.parse(await reply) as LinkReply;
    if (parsed.ev === 'error') throw new Error(`impair.py refused '${line}'`);
    return parsed;
  }

  set(i: Impairment): Promise<LinkReply> {
    return this.command(`set ${i.delayMs} ${i.jitterMs} ${i.loss}`);
  }

  /** Cut the link: every packet, also those in flight, vanishes. Resolves with the time of the cut. */
  down(): Promise<LinkReply> {
    return this.command('down');
  }

  up(): Promise<LinkReply> {
    return this.command('up');
  }

  /** Packets per direction: ab is client to server, ba server to client. */
  async stats(): Promise<{ ab: LinkCounts; ba: LinkCounts }> {
    const r = await this.command('stats');
    return { ab: r.ab as LinkCounts, ba: r.ba as LinkCounts };
  }
}

export interface Topology {
  readonly clientNs: string;
  readonly serverNs: string;
  readonly link: ImpairedLink;
  /** Run a command inside a namespace (`ip netns exec`), as a ChildRun. */
  exec(ns: string, command: string, args: readonly string[]): ChildRun;
  /** Delete the namespaces and stop the forwarder; safe to call more than once, never throws. */
  destroy(): Promise<void>;
}

/** Build the two namespaces and the link between them. On failure, what was made is removed before the throw. */
export async function createTopology(seed: number): Promise<Topology> {
  deleteLeftovers();
  const pid = process.pid;
  const clientNs = `nlws-c-${pid}`;
  const serverNs = `nlws-s-${pid}`;
  const clientDev = `nlwc${pid}`;
  const serverDev = `nlws${pid}`;
  let forwarder: ChildRun | undefined;
  const made: string[] = [];

  const removeSync = (): void => {
    forwarder?.kill('SIGKILL');
    for (const ns of made) spawnSync('ip', ['netns', 'del', ns]);
  };
  // A worker that exits without running afterAll still removes its namespaces.
  process.once('exit', removeSync);

  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> => {
    destroyed ??= (async () => {
      if (forwarder) {
        // End of stdin ends the forwarder and with it the TUN devices.
        forwarder.proc.stdin?.end();
        const ended = await Promise.race([
          forwarder.exited.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000).unref()),
        ]);
        if (!ended) {
          forwarder.kill('SIGKILL');
          await forwarder.exited;
        }
      }
      for (const ns of made) spawnSync('ip', ['netns', 'del', ns]);
      made.length = 0;
      process.removeListener('exit', removeSync);
    })();
    return destroyed;
  };

  try {
    for (const ns of [clientNs, serverNs]) {
      ip('netns', 'add', ns);
      made.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    forwarder = new ChildRun('python3', ['-u', IMPAIR, clientDev, serverDev, String(seed)]);
    await forwarder.waitLine(/"ev":"ready"/, 10_000);
    // The forwarder keeps its descriptors; the devices move into the namespaces.
    for (const [ns, dev, local, peer] of [
      [clientNs, clientDev, CLIENT_ADDR, SERVER_ADDR],
      [serverNs, serverDev, SERVER_ADDR, CLIENT_ADDR],
    ] as const) {
      ip('link', 'set', 'dev', dev, 'netns', ns);
      ip('-n', ns, 'addr', 'add', local, 'peer', `${peer}/32`, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
    }
  } catch (e) {
    await destroy();
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`network namespaces: ${stderr || (e as Error).message}`, { cause: e });
  }

  const fwd = forwarder;
  return {
    clientNs,
    serverNs,
    link: new ImpairedLink(fwd),
    exec: (ns, command, args) => new ChildRun('ip', ['netns', 'exec', ns, command, ...args]),
    destroy,
  };
}
