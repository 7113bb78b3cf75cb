/**
 * Packaging: `npm pack` the repository (its `prepare` builds dist/), check
 * what the tarball holds, install it into an empty project with a PATH that
 * reaches only `node` and `npm` (no compiler, make, cmake or python), and use
 * it from there against a ws echo server run here. The install must take the
 * prebuilt binary: nothing may be compiled (no build/ in the installed package).
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildRun, exitOutcome, killAll, ROOT } from './helpers/child';
import { startWsServer, type WsServer } from './helpers/ws-server';

const PREBUILD_DIR = join(ROOT, 'prebuilds', 'linux-x64');
const MINUTE = 60_000;

let tmp: string;
let tarball: string;
let tarEntries: string[];
let binDir: string;
let restrictedEnv: NodeJS.ProcessEnv;
let consumerDir: string;
let installed: Awaited<ReturnType<ChildRun['waitExit']>>;

/** Run a command to completion (async: the event loop keeps going), fail with its output otherwise. */
async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Awaited<ReturnType<ChildRun['waitExit']>>> {
  const child = new ChildRun(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result = await child.waitExit(options.timeoutMs);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (code ${result.code}, signal ${result.signal}):\n` +
        `--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`,
    );
  }
  return result;
}

function hasPrebuild(): boolean {
  return existsSync(PREBUILD_DIR) && readdirSync(PREBUILD_DIR).some((f) => f.endsWith('.node'));
}

beforeAll(async () => {
  if (!hasPrebuild()) {
    // Builds through node-gyp and overwrites build/; put the cmake-js build back.
    await run('npm', ['run', 'prebuild'], { cwd: ROOT, timeoutMs: 10 * MINUTE });
    await run(process.execPath, [join(ROOT, 'scripts', 'build-native.js')], { cwd: ROOT, timeoutMs: 10 * MINUTE });
  }
  expect(hasPrebuild()).toBe(true);

  tmp = mkdtempSync(join(tmpdir(), 'nlws-package-'));
  const packDir = join(tmp, 'pack');
  mkdirSync(packDir);
  await run('npm', ['pack', '--pack-destination', packDir], { cwd: ROOT, timeoutMs: 5 * MINUTE });
  const tgz = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
  expect(tgz).toHaveLength(1);
  tarball = join(packDir, tgz[0] as string);
  tarEntries = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);

  // A PATH with node and npm only.
  binDir = join(tmp, 'bin');
  mkdirSync(binDir);
  const npmPath = realpathSync(execFileSync('which', ['npm'], { encoding: 'utf8' }).trim());
  symlinkSync(process.execPath, join(binDir, 'node'));
  symlinkSync(npmPath, join(binDir, 'npm'));
  restrictedEnv = {
    PATH: binDir,
    HOME: process.env.HOME ?? tmp,
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    // npm starts lifecycle scripts with `sh` looked up on PATH; name it by
    // its absolute path instead of putting it on PATH (it is not a compiler).
    npm_config_script_shell: '/bin/sh',
  };

}, 25 * MINUTE);

afterAll(async () => {
  await killAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  const has = (entry: string): boolean => tarEntries.includes(`package/${entry}`);
  const under = (prefix: string): string[] => tarEntries.filter((e) => e.startsWith(`package/${prefix}`));

  it('holds both entry points, the types, the prebuilt binary and what a source build needs', () => {
    for (const entry of [
      'package.json',
      'dist/cjs/index.js',
      'dist/cjs/binding.js',
      'dist/cjs/dispatch.js',
      'dist/cjs/client.js',
      'dist/cjs/index.d.ts',
      'dist/esm/index.mjs',
      'dist/esm/index.d.mts',
      'binding.gyp',
      'CMakeLists.txt',
      'scripts/build-native.js',
      'deps/lws.env',
      'scripts/napi-include.js',
      'native/js/environment.cc',
      'native/js/environment.h',
      'native/sources.gypi',
    ]) {
      expect(has(entry), `${entry} in ${tarball}`).toBe(true);
    }
    expect(under('prebuilds/linux-x64/').filter((e) => e.endsWith('.node')).length).toBeGreaterThanOrEqual(1);
    const scripts = under('deps/').filter((e) => /^package\/deps\/[^/]+\.sh$/.test(e));
    expect(scripts).toEqual(expect.arrayContaining(['package/deps/build-lws.sh', 'package/deps/fetch-lws.sh']));
  });

  it('leaves out node_modules, build output, downloaded and built lws, tests and scratch files', () => {
    const forbidden = tarEntries.filter((e) =>
      /^package\/(node_modules\/|build\/|build-[^/]*\/|deps\/download|deps\/lws\/|test\/|scratch\/|coverage\/)/.test(e),
    );
    expect(forbidden).toEqual([]);
    expect(tarEntries.filter((e) => e.endsWith('.tgz'))).toEqual([]);
  });
});

describe('installing the tarball without a compiler', () => {
  let server: WsServer;
  const pkgDir = (): string => join(consumerDir, 'node_modules', 'node-libwebsockets');

  beforeAll(async () => {
    server = await startWsServer({ echo: true });
    consumerDir = join(tmp, 'consumer');
    mkdirSync(consumerDir);
    writeFileSync(
      join(consumerDir, 'package.json'),
      `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2)}\n`,
    );
    // Not run(): a failed install is reported by the test below, with its output.
    const child = new ChildRun(join(binDir, 'npm'), ['install', '--no-audit', '--no-fund', tarball], {
      cwd: consumerDir,
      env: restrictedEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    installed = await child.waitExit(5 * MINUTE);
  }, 6 * MINUTE);
  afterAll(async () => {
    await server?.close();
  });

  it('the restricted PATH reaches no compiler, make, cmake or python', () => {
    const out = execFileSync(
      '/bin/sh',
      ['-c', 'for t in gcc g++ cc c++ clang make cmake python3 python; do command -v "$t"; done; echo end'],
      { env: restrictedEnv, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('end');
  });

  it('npm install succeeds and uses the prebuilt binary (no build/ in the installed package)', () => {
    expect(
      { code: installed.code, signal: installed.signal },
      `npm install output:\n${installed.stdout}\n${installed.stderr}`,
    ).toEqual({ code: 0, signal: null });
    expect(existsSync(join(pkgDir(), 'package.json'))).toBe(true);
    expect(existsSync(join(pkgDir(), 'build')), `install output:\n${installed.stdout}\n${installed.stderr}`).toBe(false);
    expect(readdirSync(join(pkgDir(), 'prebuilds', 'linux-x64')).some((f) => f.endsWith('.node'))).toBe(true);
    expect(existsSync(join(pkgDir(), 'dist', 'cjs', 'index.js'))).toBe(true);
  });

  it('a consumer script requires the package, echoes text and binary, and closes with 1000', async () => {
    const script = join(consumerDir, 'consumer.cjs');
    writeFileSync(
      script,
      `'use strict';
const path = require('node:path');
const { connect, lwsVersion } = require('node-libwebsockets');
const pkgDir = path.dirname(require.resolve('node-libwebsockets/package.json'));
const gypBuild = require(require.resolve('node-gyp-build', { paths: [pkgDir] }));
const url = process.argv[2];
const client = connect(url);
const received = [];
client.on('error', (error) => process.stderr.write('client error ' + error.code + ' ' + error.message + '\\n'));
client.on('message', (data, isBinary) => {
  received.push(isBinary ? { binary: data.toString('hex') } : { text: data });
  if (received.length === 2) void client.close(1000, 'consumer done');
});
client.on('close', async (code, reason) => {
  const esm = await import('node-libwebsockets');
  process.stdout.write(JSON.stringify({
    received, code, reason, lwsVersion,
    entry: path.relative(pkgDir, require.resolve('node-libwebsockets')),
    binary: path.relative(pkgDir, gypBuild.path(pkgDir)),
    esmSameConnect: esm.connect === connect,
  }) + '\\n');
});
client.opened.then(() => {
  client.send('hello from consumer');
  client.send(Buffer.from([0, 1, 2, 0xff]));
});
`,
    );
    const conn = server.nextConnection(30_000);
    const child = new ChildRun(join(binDir, 'node'), [script, server.url], {
      cwd: consumerDir,
      env: restrictedEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result = await child.waitExit(30_000);
    expect(exitOutcome(result), `stderr:\n${result.stderr}`).toEqual({ code: 0, signal: null, crashText: null });
    const line = child.outputLines.find((l) => l.startsWith('{'));
    expect(line, result.stdout).toBeDefined();
    expect(JSON.parse(line as string)).toEqual({
      received: [{ text: 'hello from consumer' }, { binary: '000102ff' }],
      code: 1000,
      reason: 'consumer done',
      lwsVersion: expect.stringMatching(/^\d+\.\d+/),
      entry: join('dist', 'cjs', 'index.js'),
      binary: expect.stringMatching(/^prebuilds\/linux-x64\/[^/]+\.node$/),
      esmSameConnect: true,
    });
    // The server saw both messages and the client's close code.
    const c = await conn;
    expect((await c.nextMessage()).data.toString()).toBe('hello from consumer');
    expect([...(await c.nextMessage()).data]).toEqual([0, 1, 2, 0xff]);
    expect((await c.waitClose()).code).toBe(1000);
  }, 60_000);
});
