#!/usr/bin/env node
'use strict';
// The main job: a client of this library against an embedded feed server
// that misbehaves on a schedule the way real servers do, with a live status
// line, a report at the end and the timeline as an SVG chart.
//   npm run demo                         about a minute, embedded server
//   npm run demo -- --seconds 20         shorter (the schedule scales)
//   npm run demo -- --url wss://host/x   the same client against a real server
const { fork } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { connect, lwsVersion } = require(path.join(__dirname, '..', 'dist', 'cjs', 'index.js'));
const { timelineSvg } = require('./timeline-svg');

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    seconds: { type: 'string', default: '60' },
    out: { type: 'string', default: path.join(process.cwd(), 'demo-output') },
    quiet: { type: 'boolean', default: false },
  },
});
const seconds = Math.max(10, Number(values.seconds) || 60);
const tty = process.stdout.isTTY && !values.quiet;

// What the embedded server does, in order: each at its fraction of the run,
// but never before the client has recovered from the previous one (so each
// outage is this misbehaviour's alone). `detects` names what should notice it.
const SCHEDULE = [
  { at: 0.08, what: 'drop', label: 'server drops the connection', detects: 'the lost connection' },
  { at: 0.19, what: 'blackhole', label: 'black hole (no data, no pongs)', detects: 'the heartbeat' },
  { at: 0.3, what: 'stall', label: 'stall (pongs, no data)', detects: 'the stall watchdog' },
  { at: 0.41, what: 'refuse', label: '503 + Retry-After', detects: 'the lost connection, then 503' },
  { at: 0.52, what: 'expire', label: 'token expired (401)', detects: 'the lost connection, then 401' },
];
const HEARTBEAT = { intervalMs: 1000, timeoutMs: 1000 };
// Longer than the heartbeat's worst case (2 s), so a black hole is reported
// as such and the stall watchdog catches the quiet server.
const STALL_TIMEOUT_MS = 3000;
// Misbehaviours are this far apart (and after a recovery): a connection that
// lives through the gap and the slowest detection (the stall watchdog) plus
// a margin is only rotated after the last one, so no rotation replaces a
// misbehaving connection before its misbehaviour is noticed.
const gapMs = (SCHEDULE[1].at - SCHEDULE[0].at) * seconds * 1000;
const MAX_AGE_MS = Math.round(gapMs + STALL_TIMEOUT_MS + 1500);

function startServer() {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'feed-server.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('error', reject);
    child.once('message', (m) => resolve({ child, port: m.port }));
  });
}

function ask(child, cmd) {
  return new Promise((resolve) => {
    const on = (m) => {
      if (m.report) {
        child.off('message', on);
        resolve(m.report);
      }
    };
    child.on('message', on);
    child.send({ cmd });
  });
}

function fmtMs(ms) {
  if (ms === undefined) return '-';
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

async function main() {
  const embedded = values.url ? null : await startServer();
  const url = values.url ?? `ws://127.0.0.1:${embedded.port}/feed`;
  const startedAt = Date.now();
  const endAt = startedAt + seconds * 1000;
  console.log(`node-libwebsockets demo: libwebsockets ${lwsVersion}, ${seconds} s`);
  console.log(`connecting to ${url}${embedded ? ' (embedded feed server, misbehaving on schedule)' : ''}\n`);

  // Credentials that expire: the token is cached and refreshed only after
  // the server refused it (the client calls this before every attempt).
  let tokenVersion = 1;
  let tokenStale = false;
  const headers = () => {
    if (tokenStale) {
      tokenVersion++;
      tokenStale = false;
    }
    return { Authorization: `Bearer token-${tokenVersion}` };
  };

  const client = connect(url, {
    headers: embedded ? headers : undefined,
    heartbeat: HEARTBEAT,
    stallTimeoutMs: STALL_TIMEOUT_MS,
    // Rotation: after the misbehaviours (see MAX_AGE_MS), make-before-break.
    maxConnectionAgeMs: MAX_AGE_MS,
    maxConnectionAgeJitterPercent: 0,
    dedupeKey: (data) => {
      try {
        return JSON.parse(String(data)).seq;
      } catch {
        return undefined;
      }
    },
    reconnect: { backoffMs: [250, 500, 1000, 2000], jitterPercent: 20 },
    queue: { maxMessages: 10000, overflow: 'drop-oldest' },
    onOpen: (session) => session.send(JSON.stringify({ hello: 'demo', reconnected: session.reconnected })),
  });

  const states = [{ at: startedAt, state: 'connecting' }];
  // What the client noticed, in order: disconnects (with cause), stall
  // firings, refused upgrades and opens, each with its time.
  const seen = [];
  const marks = [];
  const received = new Set();
  let firstSeq = 0;
  let lastSeq = 0;
  let acksSent = 0;
  let windowCount = 0;
  let rate = 0;
  let lastCause = '';
  let openSince = 0;

  client.on('state', (state) => states.push({ at: Date.now(), state }));
  client.on('error', (err) => {
    if (err.status === 401) tokenStale = true;
    if (err.status) seen.push({ at: Date.now(), kind: 'refused', status: err.status });
  });
  client.on('stall', (s) => seen.push({ at: Date.now(), kind: 'stall', idleMs: s.idleMs }));
  client.on('disconnect', (d) => {
    seen.push({ at: d.at, kind: 'disconnect', cause: d.cause, code: d.code });
    lastCause = d.cause;
    openSince = 0;
    if (!tty) console.log(`  ${fmtMs(d.at - startedAt)}: disconnect, cause ${d.cause} (code ${d.code})`);
  });
  client.on('open', (info) => {
    openSince = Date.now();
    seen.push({ at: openSince, kind: 'open' });
    if (!tty && info.reconnected) console.log(`  ${fmtMs(Date.now() - startedAt)}: reconnected after ${fmtMs(info.downtimeMs)}`);
  });
  client.on('rotate', (r) => {
    if (r.phase === 'switch') seen.push({ at: Date.now(), kind: 'rotation' });
  });
  client.on('reconnecting', (r) => {
    if (!tty && r.cause !== 'refused') console.log(`  reconnecting: attempt ${r.attempt} in ${fmtMs(r.delayMs)} (${r.cause})`);
  });
  client.on('message', (data) => {
    let m;
    try {
      m = JSON.parse(String(data));
    } catch {
      return;
    }
    if (typeof m.seq !== 'number') return;
    if (!firstSeq) firstSeq = m.seq;
    received.add(m.seq);
    lastSeq = Math.max(lastSeq, m.seq);
    windowCount++;
    // Acknowledge every 10th message: sent even while offline (queued).
    if (m.seq % 10 === 0) {
      client.send(JSON.stringify({ ack: m.seq }));
      acksSent++;
    }
  });

  // The misbehaviour schedule: each at its time, once the client has noticed
  // the previous one and been open again for a moment (its outage is over).
  let stopping = false;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
  const noticed = (since) => seen.some((e) => e.at >= since && (e.kind === 'disconnect' || e.kind === 'stall'));
  async function misbehave() {
    for (const step of SCHEDULE) {
      await sleep(startedAt + step.at * seconds * 1000 - Date.now());
      const previous = marks[marks.length - 1];
      // Bounded by the end of the run: a client that never notices or recovers ends the schedule.
      while (!stopping && !((!previous || noticed(previous.at)) && openSince && Date.now() - openSince >= 500)) await sleep(50);
      if (stopping) return;
      const ms = step.what === 'refuse' ? 2500 : undefined;
      marks.push({ at: Date.now(), what: step.what, label: step.label });
      embedded.child.send({ cmd: 'misbehave', what: step.what, ms });
      if (!tty) console.log(`  ${fmtMs(Date.now() - startedAt)}: the server misbehaves: ${step.label}`);
    }
  }
  const schedule = embedded ? misbehave() : Promise.resolve();
  const timers = [];
  const status = setInterval(() => {
    rate = windowCount;
    windowCount = 0;
    const s = client.stats();
    const line =
      `${client.state.padEnd(12)} up ${fmtMs(s.currentUptimeMs).padEnd(7)} rtt ${fmtMs(s.rtt.lastMs).padEnd(6)} ` +
      `${String(rate).padStart(4)} msg/s  queued ${String(s.queueDepth).padStart(3)}  outages ${s.disconnects}` +
      (lastCause ? ` (last: ${lastCause})` : '');
    if (tty) process.stdout.write(`\r${line.padEnd(100)}`);
  }, 1000);

  const finished = new Promise((resolve) => {
    const stop = () => {
      if (stopping) return;
      stopping = true;
      resolve();
    };
    timers.push(setTimeout(stop, endAt - Date.now()));
    process.once('SIGINT', stop);
  });
  client.on('close', () => {
    if (!stopping) console.log('\nthe session ended by itself');
  });
  await finished;
  await schedule;
  clearInterval(status);
  for (const t of timers) clearTimeout(t);
  const stats = client.stats();
  await client.close(1000, 'demo done');
  const serverReport = embedded ? await ask(embedded.child, 'report') : null;
  if (embedded) embedded.child.send({ cmd: 'stop' });
  const end = Date.now();
  if (tty) process.stdout.write('\n');

  // The report: each misbehaviour, what noticed it and when, and the outage
  // it caused, measured from the moment the server misbehaved.
  const detectorOf = (e) => {
    if (e.kind === 'stall') return 'stall watchdog';
    if (e.cause === 'heartbeat') return 'heartbeat';
    if (e.cause === 'network') return 'lost connection';
    if (e.cause === 'close') return `server Close ${e.code}`;
    return e.cause;
  };
  const found = marks.map((m, i) => {
    const until = marks[i + 1]?.at ?? end;
    const window = seen.filter((e) => e.at >= m.at && e.at < until);
    const hit = window.find((e) => e.kind === 'stall' || e.kind === 'disconnect');
    const refusals = window.filter((e) => e.kind === 'refused');
    const byStatus = [...new Set(refusals.map((r) => r.status))].map((st) => `${st} x${refusals.filter((r) => r.status === st).length}`);
    const recovered = hit ? window.find((e) => e.kind === 'open' && e.at >= hit.at) : undefined;
    const detector = hit ? detectorOf(hit) + (byStatus.length ? `, then HTTP ${byStatus.join(', ')}` : '') : 'not detected';
    return { ...m, detectedAt: hit?.at, detector, recoveredAt: recovered?.at };
  });
  console.log('\nMisbehaviours (each outage measured from when the server misbehaved)');
  console.log('  #  at       misbehaviour                    detected by                          after     outage');
  found.forEach((f, i) => {
    const after = f.detectedAt === undefined ? '-' : fmtMs(f.detectedAt - f.at);
    const outage = f.detectedAt === undefined ? '-' : fmtMs((f.recoveredAt ?? end) - f.at);
    console.log(
      `  ${String(i + 1).padStart(2)} ${fmtMs(f.at - startedAt).padEnd(8)} ${f.label.padEnd(31)} ${f.detector.padEnd(36)} ${after.padEnd(9)} ${outage}`,
    );
  });
  if (found.length === 0) console.log('  none (not the embedded server)');
  // Outages no misbehaviour explains (there should be none).
  const explained = new Set(found.map((f) => f.detectedAt));
  const others = seen.filter((e) => e.kind === 'disconnect' && !explained.has(e.at) && !found.some((f) => e.at >= f.at && e.at <= (f.recoveredAt ?? end)));
  for (const e of others) console.log(`  other outage at ${fmtMs(e.at - startedAt)}: ${detectorOf(e)}`);
  const rotations = seen.filter((e) => e.kind === 'rotation');
  console.log(`  rotations (make-before-break, no outage): ${rotations.map((r) => `at ${fmtMs(r.at - startedAt)}`).join(', ') || 'none'}`);
  const expected = lastSeq - firstSeq + 1;
  const missing = expected - received.size;
  console.log('\nMessages');
  console.log(`  received ${received.size} distinct of the ${expected} the feed published meanwhile (seq ${firstSeq}..${lastSeq})`);
  console.log(`  not received: ${missing} (published during outages, or withheld by the black hole and the stall before they were noticed; 'gap' events mark the windows)`);
  if (serverReport) {
    console.log(`  the server wrote ${serverReport.sent} messages over ${serverReport.connections} connections (rotations overlap)`);
    console.log(`\nAcknowledgements (sent while online and, queued, while offline)`);
    console.log(`  sent ${acksSent}, received by the server ${serverReport.acks}; lost: ${acksSent - serverReport.acks}`);
    console.log(`  upgrades refused: ${serverReport.refused503} x 503, ${serverReport.refused401} x 401`);
  }
  console.log('\nSession');
  console.log(`  connects ${stats.connects}, rotations ${stats.rotations}, stalls ${stats.stalls}, drops ${stats.drops}`);
  console.log(`  uptime ${fmtMs(stats.totalUptimeMs)}, downtime ${fmtMs(stats.totalDowntimeMs)}, longest outage ${fmtMs(stats.longestOutageMs)}`);
  console.log(`  ping rtt: last ${fmtMs(stats.rtt.lastMs)}, avg ${fmtMs(stats.rtt.avgMs)}, max ${fmtMs(stats.rtt.maxMs)}`);

  fs.mkdirSync(values.out, { recursive: true });
  const svgPath = path.join(values.out, 'timeline.svg');
  const outages = [
    ...found.filter((f) => f.detectedAt !== undefined).map((f) => ({ from: f.at, to: f.recoveredAt, detectedAt: f.detectedAt, label: f.label, detector: f.detector })),
    ...others.map((e) => ({ from: e.at, to: seen.find((x) => x.kind === 'open' && x.at > e.at)?.at, detectedAt: e.at, label: 'outage', detector: detectorOf(e) })),
  ];
  fs.writeFileSync(
    svgPath,
    timelineSvg({ start: startedAt, end, states, outages, marks, rotations: rotations.map((r) => r.at), title: `node-libwebsockets demo: ${url}` }),
  );
  console.log(`\ntimeline chart: ${svgPath}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
