/**
 * The library's log lines: under NODE_DEBUG=nlws on stderr, each with the
 * session id and URL (state changes, attempts and their delays, causes,
 * give-up); and a `logger` gets its own session's lines only.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type WebSocketClient } from './lib';
import { ChildRun, exitOutcome, killAll, ROOT } from './helpers/child';
import { freePort } from './helpers/fault-server';
import { once, withTimeout } from './helpers/wait';
import { startWsServer, type WsServer } from './helpers/ws-server';
import { join } from 'node:path';

const T = 10_000;
const servers: WsServer[] = [];
const clients: WebSocketClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.terminate();
  await killAll();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('logger', () => {
  it("gets its own session's lines only, each naming the session and its URL", async () => {
    const s = await startWsServer({ echo: true });
    servers.push(s);
    const refused = await freePort();
    const mine: Array<[string, string]> = [];
    const theirs: Array<[string, string]> = [];
    const a = connect(s.url, { reconnect: false, logger: (level, line) => mine.push([level, line]) });
    const b = connect(`ws://127.0.0.1:${refused}/`, {
      reconnect: { maxAttempts: 1, backoffMs: [5] },
      logger: (level, line) => theirs.push([level, line]),
    });
    clients.push(a, b);
    b.on('error', () => undefined);
    const bClosed = once(b, 'close', T, { rejectOnError: false });
    await withTimeout(a.opened, T, 'a open');
    await bClosed;
    await withTimeout(a.close(), T, 'a closed');

    const idOf = (lines: Array<[string, string]>): string => /^session (\d+) /.exec(lines[0]?.[1] ?? '')?.[1] ?? '?';
    const ida = idOf(mine);
    const idb = idOf(theirs);
    expect(ida).not.toBe(idb);
    expect(mine.length).toBeGreaterThan(2);
    for (const [, line] of mine) expect(line.startsWith(`session ${ida} `)).toBe(true);
    for (const [, line] of theirs) expect(line.startsWith(`session ${idb} `)).toBe(true);
    const text = (lines: Array<[string, string]>): string => lines.map(([level, line]) => `${level} ${line}`).join('\n');
    expect(text(mine)).toContain(`session ${ida} ${s.url}/: state connecting -> open`);
    expect(text(mine)).toMatch(/info session \d+ \S+: open \(attempt 0/);
    expect(text(mine)).toContain('closed: code 1000');
    expect(text(theirs)).toContain(`warn session ${idb} ws://127.0.0.1:${refused}/: error ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${refused}`);
    expect(text(theirs)).toMatch(/reconnecting: attempt 1 in \d+ ms \(cause refused\)/);
    expect(text(theirs)).toMatch(/error session \d+ \S+: gave up: .*\(cause refused, code 1006\)/);
    expect(text(mine)).not.toContain(`${refused}`);
  });
});

describe('NODE_DEBUG=nlws', () => {
  it('prints the library lines on stderr, with the session id and URL', async () => {
    const refused = await freePort();
    const script =
      `const { connect } = require(${JSON.stringify(join(ROOT, 'dist', 'cjs', 'index.js'))});` +
      `const c = connect('ws://127.0.0.1:${refused}/feed', { reconnect: { maxAttempts: 2, backoffMs: [5] } });` +
      `c.on('error', () => {});`;
    const child = new ChildRun(process.execPath, ['-e', script], { cwd: ROOT, env: { ...process.env, NODE_DEBUG: 'nlws' } });
    const r = await child.waitExit(T);
    expect(exitOutcome(r)).toEqual({ code: 0, signal: null, crashText: null });
    const url = `ws://127.0.0.1:${refused}/feed`;
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('NLWS '));
    expect(lines.length).toBeGreaterThan(5);
    for (const l of lines) expect(l).toMatch(new RegExp(`^NLWS \\d+: (info|warn|error) session 1 ${url.replace(/[/.]/g, '\\$&')}: `));
    const text = lines.join('\n');
    expect(text).toContain('state connecting -> reconnecting');
    expect(text).toMatch(/reconnecting: attempt 2 in \d+ ms \(cause refused\)/);
    expect(text).toContain(`error ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${refused}`);
    expect(text).toMatch(/gave up: no connection after 2 attempts/);
  });

  it('is silent without NODE_DEBUG', async () => {
    const refused = await freePort();
    const script =
      `const { connect } = require(${JSON.stringify(join(ROOT, 'dist', 'cjs', 'index.js'))});` +
      `const c = connect('ws://127.0.0.1:${refused}/', { reconnect: false }); c.on('error', () => {});`;
    const env = { ...process.env };
    delete env.NODE_DEBUG;
    const r = await new ChildRun(process.execPath, ['-e', script], { cwd: ROOT, env }).waitExit(T);
    expect(r.stderr).toBe('');
  });
});
