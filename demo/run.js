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

// What the embedded server does, as fractions of the run.
const SCHEDULE = [
  { at: 0.12, what: 'drop', label: 'server drops the connection' },
  { at: 0.25, what: 'blackhole', label: 'black hole (no data, no pongs)' },
  { at: 0.42, what: 'stall', label: 'stall (pongs, no data)' },
  { at: 0.6, what: 'refuse', label: '503 + Retry-After', ms: 2500 },
  { at: 0.78, what: 'expire', label: 'token expired (401)' },
];

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
    heartbeat: { intervalMs: 1000, timeoutMs: 1000 },
    // Longer than the heartbeat's worst case (2 s), so a black hole is
    // reported as such and the stall watchdog catches the quiet server.
    stallTimeoutMs: 3000,
    // Long enough not to hide the server's tricks, short enough to be seen.
    maxConnectionAgeMs: Math.max(8000, Math.round(seconds * 180)),
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
  const outages = [];
  const marks = [];
  const received = new Set();
  let firstSeq = 0;
  let lastSeq = 0;
  let acksSent = 0;
  let windowCount = 0;
  let rate = 0;
  let lastCause = '';

  client.on('state', (state) => states.push({ at: Date.now(), state }));
  client.on('error', (err) => {
    if (err.status === 401) tokenStale = true;
  });
  client.on('disconnect', (d) => {
    outages.push({ from: d.at, to: undefined, cause: d.cause, code: d.code, uptimeMs: d.uptimeMs, detectedAt: d.at });
    lastCause = d.cause;
    if (!tty) console.log(`  ${fmtMs(d.at - startedAt)}: disconnect, cause ${d.cause} (code ${d.code})`);
  });
  client.on('open', (info) => {
    const o = outages[outages.length - 1];
    if (info.reconnected && o && o.to === undefined) o.to = Date.now();
    if (!tty && info.reconnected) console.log(`  ${fmtMs(Date.now() - startedAt)}: reconnected after ${fmtMs(info.downtimeMs)}`);
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

  // The misbehaviour schedule and the live status line.
  const timers = [];
  if (embedded) {
    for (const step of SCHEDULE) {
      timers.push(
        setTimeout(() => {
          marks.push({ at: Date.now(), label: step.label });
          embedded.child.send({ cmd: 'misbehave', what: step.what, ms: step.ms });
          if (!tty) console.log(`  ${fmtMs(Date.now() - startedAt)}: the server misbehaves: ${step.label}`);
        }, step.at * seconds * 1000),
      );
    }
  }
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

  let stopping = false;
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
  clearInterval(status);
  for (const t of timers) clearTimeout(t);
  const stats = client.stats();
  await client.close(1000, 'demo done');
  const serverReport = embedded ? await ask(embedded.child, 'report') : null;
  if (embedded) embedded.child.send({ cmd: 'stop' });
  const end = Date.now();
  if (tty) process.stdout.write('\n');

  // The report.
  console.log('\nOutages');
  console.log('  #  cause       detected after   downtime');
  const marksLeft = [...marks];
  outages.forEach((o, i) => {
    // Detection time: from what the server did to the client noticing.
    const cause = marksLeft.filter((m) => m.at <= o.detectedAt).pop();
    const detected = cause ? o.detectedAt - cause.at : undefined;
    const downtime = (o.to ?? end) - o.from;
    console.log(`  ${String(i + 1).padStart(2)} ${o.cause.padEnd(11)} ${fmtMs(detected).padEnd(16)} ${fmtMs(downtime)}`);
  });
  if (outages.length === 0) console.log('  none');
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
  fs.writeFileSync(svgPath, timelineSvg({ start: startedAt, end, states, outages, marks, title: `node-libwebsockets demo: ${url}` }));
  console.log(`\ntimeline chart: ${svgPath}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
