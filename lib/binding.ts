// The addon of this environment: its loader and the declaration of its
// native surface (native/js/). lib/dispatch.ts drives sessions through it.
import path from 'node:path';
import type { NativeConnectOptions } from './options/types';

export interface NativeBinding {
  init(onBatch: (chunks: Buffer[], index: Float64Array) => void): void;
  connect(options: NativeConnectOptions): number;
  sendBatch(list: Array<number | string | Uint8Array | boolean>): void;
  close(id: number, code: number, reason: Buffer): void;
  terminate(id: number): void;
  ping(id: number, data: Buffer): void;
  pong(id: number, data: Buffer): void;
  closeEcho(id: number, attempt: number): void;
  setRef(ref: boolean): void;
  setLogLevel(mask: number): void;
  shutdown(): void;
  config(id: number, attempt: number, options: NativeConnectOptions | null, error: string, errorCode?: string): void;
  decision(id: number, retry: boolean, delayMs: number): void;
  onOpenDone(id: number, attempt: number, error: string): void;
  sendPriority(id: number, attempt: number, data: string | Uint8Array, binary: boolean): void;
  resolved(id: number, attempt: number, addresses: string[] | null, error: string): void;
  constants(): Record<string, unknown>;
  serviceInfo(): ServiceInfo;
  testing: TestHooks;
}

/** native/js/test_hooks.cc: pure native functions, for their tests. */
export interface TestHooks {
  classify(failure: Record<string, unknown>): { action: string; delayMs: number; reason: string; spread: boolean; keepClimbing: boolean };
  reconnectDelay(input: Record<string, unknown>): { delayMs: number; scheduleMs: number; floorMs: number; retryAfterWon: boolean };
  /** The order the timer queue fires timers in after `ops` (flat [kind 0 schedule | 1 cancel, timer, offsetUs]). */
  timerQueue(timers: number, ops: number[]): number[];
  /** The CPU budget as read below `root` (a directory laid out like /proc and /sys/fs/cgroup). */
  cpuBudget(root: string, affinity: number): ServiceInfo;
  /** The order the addresses of a name are tried in. */
  orderAddresses(addresses: string[], family: number): string[];
}

/** What the service thread decided from the CPUs the process has. */
export interface ServiceInfo {
  /** CPUs in the process's affinity mask. */
  cpus: number;
  /** The cgroup's CPU quota in CPUs (cpu.max, cpu.cfs_quota_us), null without one. */
  cpuQuota: number | null;
  /** Two CPUs at least: the service thread may busy-poll after a hand-off. */
  spinAllowed: boolean;
  /** The busy-poll window it uses, µs (0: never). */
  spinUs?: number;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => NativeBinding;
// NLWS_ADDON_PATH names another build of the addon to load instead (the
// sanitizer build, build-sanitize/Release/node_libwebsockets.node, for
// scripts/test-sanitize.sh). For development only; unset in normal use.
const override = process.env.NLWS_ADDON_PATH;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const binding = override ? (require(path.resolve(override)) as NativeBinding) : load(path.join(__dirname, '..', '..'));
const constants = binding.constants();

const [patchNames = '', patchHash = ''] = String(constants.lwsPatchSet ?? '').split('@');

export { binding, constants };

/** What the addon is, and its hooks for tests. */
export const addon = {
  lwsVersion: constants.lwsVersion as string,
  lwsPatches: Object.freeze({ names: Object.freeze(patchNames ? patchNames.split(';') : []), sha256: patchHash }),
  /** The addon's constants: the wire contract, as test/wire.test.ts compares it with lib/wire.ts. */
  constants(): Record<string, unknown> {
    return binding.constants();
  },
  /** The service thread's CPU budget and busy-poll decision (diagnostics, tests). */
  serviceInfo(): ServiceInfo {
    return binding.serviceInfo();
  },
  /**
   * The pure native functions with chosen inputs, for their tests
   * (native/js/test_hooks.cc): the failure classifier, the reconnect delay,
   * the timer queue, the CPU budget below another root, the address order.
   */
  testing: binding.testing,
};
