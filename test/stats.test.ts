// The session record: uptime/downtime accounting from the events' own
// timestamps, the bounded event log, and the Prometheus exposition.
import { describe, expect, it } from 'vitest';
import { toPrometheus } from '../dist/cjs/metrics.js';
import { StatsRecorder, type Stats } from '../dist/cjs/stats.js';
import type { Cause, SessionState } from '../dist/cjs/wire.js';

const T0 = 1_700_000_000_000;

function disconnect(at: number, cause: Cause, uptimeMs: number, code = 1006) {
  return { at, cause, code, reason: '', uptimeMs };
}

describe('StatsRecorder', () => {
  it('starts empty', () => {
    const s = new StatsRecorder(100).snapshot(0, 0, T0);
    expect(s).toMatchObject({
      state: 'connecting',
      connects: 0,
      reconnects: 0,
      disconnects: 0,
      disconnectsByCause: {},
      attempts: 0,
      currentUptimeMs: 0,
      totalUptimeMs: 0,
      totalDowntimeMs: 0,
      longestOutageMs: 0,
      rtt: { samples: 0 },
      queueDepth: 0,
      queueBytes: 0,
      log: [],
    });
    expect(s.lastDisconnect).toBeUndefined();
    expect(s.rtt.lastMs).toBeUndefined();
  });

  it('counts uptime of the current connection from its open time', () => {
    const r = new StatsRecorder(100);
    r.opened(T0, false);
    const s = r.snapshot(3, 300, T0 + 5000);
    expect(s).toMatchObject({ connects: 1, reconnects: 0, currentUptimeMs: 5000, totalUptimeMs: 5000, totalDowntimeMs: 0 });
    expect(s.queueDepth).toBe(3);
    expect(s.queueBytes).toBe(300);
  });

  it('accounts uptime, downtime and the longest outage across reconnects', () => {
    const r = new StatsRecorder(100);
    r.opened(T0, false);
    r.disconnected(disconnect(T0 + 10_000, 'network', 10_000));

    // During the outage: the outage so far counts as downtime.
    let s = r.snapshot(0, 0, T0 + 12_000);
    expect(s).toMatchObject({ currentUptimeMs: 0, totalUptimeMs: 10_000, totalDowntimeMs: 2000, longestOutageMs: 2000, disconnects: 1 });
    expect(s.lastDisconnect).toEqual({ at: T0 + 10_000, cause: 'network', code: 1006, reason: '', uptimeMs: 10_000 });
    expect(s.lastDisconnect!.durationMs).toBeUndefined();

    expect(r.opened(T0 + 13_000, true)).toBe(3000);
    s = r.snapshot(0, 0, T0 + 20_000);
    expect(s).toMatchObject({ connects: 2, reconnects: 1, currentUptimeMs: 7000, totalUptimeMs: 17_000, totalDowntimeMs: 3000, longestOutageMs: 3000 });
    // The reopen fills in how long the outage lasted.
    expect(s.lastDisconnect!.durationMs).toBe(3000);

    r.disconnected(disconnect(T0 + 20_000, 'heartbeat', 7000));
    expect(r.opened(T0 + 21_000, true)).toBe(1000);
    r.disconnected(disconnect(T0 + 25_000, 'network', 4000));
    s = r.snapshot(0, 0, T0 + 30_000);
    // 3000 + 1000 closed outages, 5000 of the current one (the longest so far).
    expect(s).toMatchObject({ totalUptimeMs: 21_000, totalDowntimeMs: 9000, longestOutageMs: 5000, disconnects: 3 });
    expect(s.disconnectsByCause).toEqual({ network: 2, heartbeat: 1 });
    expect(s.lastDisconnect).toMatchObject({ at: T0 + 25_000, cause: 'network' });
    expect(s.lastDisconnect!.durationMs).toBeUndefined();

    expect(r.opened(T0 + 30_000, true)).toBe(5000);
    s = r.snapshot(0, 0, T0 + 30_000);
    expect(s).toMatchObject({ totalDowntimeMs: 9000, longestOutageMs: 5000, currentUptimeMs: 0, totalUptimeMs: 21_000 });
    expect(s.lastDisconnect!.durationMs).toBe(5000);
  });

  it("computes an open's downtime from the disconnect's time: 0 for the first open and when no outage was recorded", () => {
    const r = new StatsRecorder(100);
    expect(r.opened(T0, false)).toBe(0);
    expect(r.opened(T0 + 1000, true)).toBe(0);
    r.disconnected(disconnect(T0 + 2000, 'network', 1000));
    expect(r.opened(T0 + 2500, true)).toBe(500);
    // The open event's downtime and the stats agree.
    expect(r.snapshot(0, 0, T0 + 2500)).toMatchObject({ totalDowntimeMs: 500, longestOutageMs: 500 });
  });

  it('stops the uptime clock at close', () => {
    const r = new StatsRecorder(100);
    r.opened(T0, false);
    r.closed(T0 + 4000);
    const s = r.snapshot(0, 0, T0 + 60_000);
    expect(s).toMatchObject({ currentUptimeMs: 0, totalUptimeMs: 4000, totalDowntimeMs: 0 });
  });

  it('keeps an outage that ends in close() in the downtime total (a counter never goes down)', () => {
    const r = new StatsRecorder(100);
    r.opened(T0, false);
    r.disconnected(disconnect(T0 + 1000, 'network', 1000));
    const during = r.snapshot(0, 0, T0 + 5000);
    expect(during.totalDowntimeMs).toBe(4000);
    expect(during.longestOutageMs).toBe(4000);

    r.closed(T0 + 6000);
    const after = r.snapshot(0, 0, T0 + 60_000);
    expect(after.totalDowntimeMs).toBeGreaterThanOrEqual(during.totalDowntimeMs);
    expect(after.longestOutageMs).toBeGreaterThanOrEqual(during.longestOutageMs);
    // The outage lasted from the disconnect to the close, and no longer.
    expect(after.totalDowntimeMs).toBe(5000);
    expect(after.longestOutageMs).toBe(5000);
    expect(after.totalUptimeMs).toBe(1000);
  });

  it('keeps the last, average and largest round-trip time', () => {
    const r = new StatsRecorder(100);
    for (const ms of [10, 40, 25]) r.rtt(ms);
    expect(r.snapshot(0, 0, T0).rtt).toEqual({ lastMs: 25, avgMs: 25, maxMs: 40, samples: 3 });
    r.rtt(5);
    expect(r.snapshot(0, 0, T0).rtt).toEqual({ lastMs: 5, avgMs: 20, maxMs: 40, samples: 4 });
  });

  it('keeps only the last logSize entries', () => {
    const r = new StatsRecorder(3);
    for (let i = 0; i < 5; i++) r.record(T0 + i, 'reconnecting', { attempt: i });
    const log = r.snapshot(0, 0, T0).log;
    expect(log.map((e) => e.detail.attempt)).toEqual([2, 3, 4]);
    expect(log[0]).toEqual({ at: T0 + 2, event: 'reconnecting', detail: { attempt: 2 } });
  });

  it('keeps no log with logSize 0', () => {
    const r = new StatsRecorder(0);
    r.record(T0, 'open', {});
    r.record(T0 + 1, 'close', { code: 1000 });
    expect(r.snapshot(0, 0, T0).log).toEqual([]);
  });

  it('hands out snapshots that do not alias its state', () => {
    const r = new StatsRecorder(10);
    r.opened(T0, false);
    r.disconnected(disconnect(T0 + 1000, 'network', 1000));
    r.record(T0 + 1000, 'disconnect', { cause: 'network' });
    const s = r.snapshot(0, 0, T0 + 2000);
    s.log[0]!.detail.cause = 'changed';
    s.disconnectsByCause.network = 99;
    s.lastDisconnect!.cause = 'user';
    const t = r.snapshot(0, 0, T0 + 2000);
    expect(t.log[0]!.detail.cause).toBe('network');
    expect(t.disconnectsByCause.network).toBe(1);
    expect(t.lastDisconnect!.cause).toBe('network');
  });
});

// A small parser of the text exposition format (0.0.4): enough to check
// every line, and to read label values back unescaped.
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VALUE = /^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;

function parseSample(line: string): Sample {
  const m = /^([^{\s]+)/.exec(line);
  if (!m) throw new Error(`no metric name: ${line}`);
  const name = m[1]!;
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq < 0) throw new Error(`bad label: ${line}`);
      const key = line.slice(i, eq);
      if (!LABEL_NAME.test(key)) throw new Error(`bad label name ${JSON.stringify(key)}: ${line}`);
      if (line[eq + 1] !== '"') throw new Error(`unquoted label value: ${line}`);
      let v = '';
      let j = eq + 2;
      for (;;) {
        const c = line[j];
        if (c === undefined) throw new Error(`unterminated label value: ${line}`);
        if (c === '"') break;
        if (c === '\\') {
          const n = line[j + 1];
          if (n === '\\') v += '\\';
          else if (n === '"') v += '"';
          else if (n === 'n') v += '\n';
          else throw new Error(`bad escape \\${n}: ${line}`);
          j += 2;
        } else {
          v += c;
          j++;
        }
      }
      if (key in labels) throw new Error(`duplicate label ${key}: ${line}`);
      labels[key] = v;
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`expected , or } at ${i}: ${line}`);
    }
    i++;
  }
  const rest = line.slice(i);
  if (!rest.startsWith(' ')) throw new Error(`no space before the value: ${line}`);
  const value = rest.slice(1);
  if (!VALUE.test(value)) throw new Error(`not a number ${JSON.stringify(value)}: ${line}`);
  return { name, labels, value: Number(value) };
}

interface Family {
  help?: string;
  type?: string;
  samples: Sample[];
}

function parseExposition(text: string): Map<string, Family> {
  expect(text.endsWith('\n')).toBe(true);
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { samples: [] }));
    return f;
  };
  for (const line of text.slice(0, -1).split('\n')) {
    expect(line, 'no blank lines').not.toBe('');
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest = ''] = meta;
      expect(name, `metric name ${name}`).toMatch(METRIC_NAME);
      const f = family(name!);
      if (kind === 'HELP') {
        expect(f.help, `one HELP for ${name}`).toBeUndefined();
        expect(f.samples, `HELP of ${name} before its samples`).toEqual([]);
        f.help = rest;
      } else {
        expect(f.type, `one TYPE for ${name}`).toBeUndefined();
        expect(f.samples, `TYPE of ${name} before its samples`).toEqual([]);
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(rest);
        f.type = rest;
      }
      continue;
    }
    expect(line.startsWith('#'), `unexpected comment: ${line}`).toBe(false);
    const s = parseSample(line);
    expect(s.name, `metric name ${s.name}`).toMatch(METRIC_NAME);
    const f = families.get(s.name);
    expect(f, `sample of ${s.name} without HELP/TYPE`).toBeDefined();
    f!.samples.push(s);
  }
  return families;
}

function busyStats(): Stats {
  const r = new StatsRecorder(100);
  r.opened(T0, false);
  r.rtt(12);
  r.rtt(30);
  r.messagesIn = 7;
  r.bytesIn = 700;
  r.messagesOut = 3;
  r.bytesOut = 90;
  r.attempts = 2;
  r.drops = 1;
  r.disconnected(disconnect(T0 + 10_000, 'network', 10_000));
  // Not a cause the library reports: label escaping is checked with it.
  r.disconnected(disconnect(T0 + 10_000, 'weird "cause"\\' as Cause, 0));
  r.opened(T0 + 12_000, true);
  r.state = 'open';
  return r.snapshot(4, 512, T0 + 15_000);
}

describe('toPrometheus', () => {
  const URL_LABEL = 'wss://example.com/a"b\\c\nd';

  it('is valid exposition text: HELP and TYPE for every metric, valid names, numeric values, a final newline', () => {
    const text = toPrometheus(busyStats(), { url: URL_LABEL });
    const families = parseExposition(text);
    expect(families.size).toBeGreaterThan(10);
    for (const [name, f] of families) {
      expect(f.help, `HELP of ${name}`).toBeTruthy();
      expect(f.type, `TYPE of ${name}`).toBeTruthy();
      for (const s of f.samples) expect(Number.isFinite(s.value), `${name} value`).toBe(true);
    }
  });

  it('escapes label values so they read back unchanged', () => {
    const text = toPrometheus(busyStats(), { url: URL_LABEL, job: 'feed' });
    for (const f of parseExposition(text).values()) {
      for (const s of f.samples) {
        expect(s.labels.url).toBe(URL_LABEL);
        expect(s.labels.job).toBe('feed');
      }
    }
    const causes = parseExposition(text).get('nlws_disconnects_total')!.samples.map((s) => [s.labels.cause, s.value]);
    expect(Object.fromEntries(causes)).toEqual({ network: 1, 'weird "cause"\\': 1 });
  });

  it('carries the values of the snapshot', () => {
    const families = parseExposition(toPrometheus(busyStats(), {}));
    const value = (name: string, labels: Record<string, string> = {}) =>
      families.get(name)!.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))!.value;
    expect(value('nlws_connects_total')).toBe(2);
    expect(value('nlws_reconnect_attempts_total')).toBe(2);
    expect(value('nlws_uptime_seconds')).toBe(3);
    expect(value('nlws_uptime_seconds_total')).toBe(13);
    expect(value('nlws_downtime_seconds_total')).toBe(2);
    expect(value('nlws_longest_outage_seconds')).toBe(2);
    expect(value('nlws_ping_rtt_seconds', { stat: 'last' })).toBe(0.03);
    expect(value('nlws_ping_rtt_seconds', { stat: 'avg' })).toBe(0.021);
    expect(value('nlws_ping_rtt_seconds', { stat: 'max' })).toBe(0.03);
    expect(value('nlws_messages_received_total')).toBe(7);
    expect(value('nlws_received_bytes_total')).toBe(700);
    expect(value('nlws_messages_sent_total')).toBe(3);
    expect(value('nlws_sent_bytes_total')).toBe(90);
    expect(value('nlws_queue_messages')).toBe(4);
    expect(value('nlws_queue_bytes')).toBe(512);
    expect(value('nlws_drops_total')).toBe(1);
    expect(families.get('nlws_connects_total')!.type).toBe('counter');
    expect(families.get('nlws_queue_messages')!.type).toBe('gauge');
  });

  it.each<SessionState>(['connecting', 'open', 'reconnecting', 'closing', 'closed'])('the state gauge has exactly one 1 (%s)', (state) => {
    const r = new StatsRecorder(0);
    r.state = state;
    const gauge = parseExposition(toPrometheus(r.snapshot(0, 0, T0), { url: 'ws://x/' })).get('nlws_state')!;
    expect(gauge.type).toBe('gauge');
    expect(gauge.samples.filter((s) => s.value === 1).map((s) => s.labels.state)).toEqual([state]);
    expect(gauge.samples.every((s) => s.value === 0 || s.value === 1)).toBe(true);
  });

  it('is valid with no labels and a fresh recorder', () => {
    const text = toPrometheus(new StatsRecorder(0).snapshot(0, 0, T0), {});
    const families = parseExposition(text);
    for (const f of families.values()) expect(f.help && f.type).toBeTruthy();
    expect(text).toMatch(/^nlws_connects_total 0$/m);
  });

  it('uses the given prefix', () => {
    const families = parseExposition(toPrometheus(busyStats(), {}, 'feed_ws'));
    expect([...families.keys()].every((n) => n.startsWith('feed_ws_'))).toBe(true);
  });
});

describe('a live session', () => {
  it('reports every time and duration as whole milliseconds: stats(), its log and the event payloads', async () => {
    const { connect } = await import('./lib');
    const { startFaultServer } = await import('./helpers/fault-server');
    const { once, waitFor } = await import('./helpers/wait');
    const server = await startFaultServer();
    const c = connect(server.url, { heartbeat: { intervalMs: 20, timeoutMs: 1000 }, reconnect: { backoffMs: [5] } });
    const payloads: unknown[] = [];
    for (const name of ['open', 'disconnect', 'reconnecting', 'gap'] as const) c.on(name, (info: unknown) => void payloads.push(info));
    try {
      const first = await server.nextConnection(5000);
      await waitFor(() => c.stats().rtt.samples >= 3, 5000, { label: 'three heartbeat round trips' });
      first.ws.terminate();
      await once(c, 'reconnecting', 5000);
      await server.nextConnection(5000);
      await waitFor(() => c.stats().connects === 2 && c.stats().rtt.samples >= 4, 5000, { label: 'the reconnection' });
      const numbers: Array<[string, number]> = [];
      const walk = (v: unknown, path: string): void => {
        if (typeof v === 'number') numbers.push([path, v]);
        else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
      };
      walk(c.stats(), 'stats');
      walk(payloads, 'events');
      expect(numbers.some(([p]) => p === 'stats.rtt.avgMs')).toBe(true);
      expect(numbers.some(([p]) => p.endsWith('.uptimeMs'))).toBe(true);
      expect(numbers.filter(([, v]) => !Number.isInteger(v))).toEqual([]);
    } finally {
      c.terminate();
      await server.close();
    }
  });
});
