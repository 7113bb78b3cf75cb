'use strict';
// Soak: many connect/close cycles, then many forced reconnects, against a ws
// server in another process (bench/soak-server.js). Reports this process's
// RSS, V8 heap used, open file descriptors (/proc/self/fd) and threads
// (/proc/self/status) at start, after warm-up, at points in between and at
// the end, with each phase's duration. It reports; it asserts nothing (the CI
// test test/soak.test.ts runs a short one and checks its figures).
//
//   npm run soak                                   10,000 + 10,000 cycles
//   npm run soak -- --connect 500 --reconnect 500  shorter
//
// Flags:
//   --connect N     connect/close cycles: connect(), await opened, close() (default 10000)
//   --reconnect N   forced reconnects of one session: on open it sends "kill",
//                   the server destroys the TCP socket (no Close frame), the
//                   session reconnects after its backoff (default 10000)
//   --backoff MS    reconnect.backoffMs of that session (default 1: [1])
//   --warmup N      cycles of each kind before the baseline (default 100)
//   --host H        host in the URL (default localhost: goes through name resolution)
//   --tls           wss:// with a throwaway CA (bench/certs.js), verified
//   --points K      samples in each phase (default 5)
//   --settle-ms MS  after each phase, how long fds and threads may take to
//                   return to the baseline (polled; default 10000)
//   --json          one JSON object on stdout instead of the table
//
// Runs under --expose-gc (it re-executes itself with it when missing): every
// sample follows a full collection, so heap and RSS are what is retained.
const { fork, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

if (typeof global.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}

const { connect } = require(path.join(__dirname, '..', 'dist', 'cjs', 'index.js'));
const { makeCerts } = require('./certs');

// ------------------------------------------------------------------ options
const argv = process.argv.slice(2);
const value = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const count = (name, dflt) => {
  const n = Number(value(name, dflt));
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${name} wants a whole number >= 0`);
    process.exit(2);
  }
  return n;
};
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 25).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
const CONNECT = count('--connect', 10000);
const RECONNECT = count('--reconnect', 10000);
const BACKOFF = count('--backoff', 1);
const WARMUP = count('--warmup', 100);
const HOST = value('--host', 'localhost');
const POINTS = Math.max(1, count('--points', 5));
const SETTLE_MS = count('--settle-ms', 10000);
const JSON_OUT = argv.includes('--json');
const TLS = argv.includes('--tls');
/** No single cycle may take longer than this: a hang ends the soak with an error. */
const CYCLE_LIMIT_MS = 30000;

// --------------------------------------------------------------- measuring
const t0 = performance.now();
const elapsed = () => Math.round(performance.now() - t0);

function openFds() {
  // The directory listing holds one descriptor of its own.
  return fs.readdirSync('/proc/self/fd').length - 1;
}
function threads() {
  const m = /^Threads:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

const samples = [];
function sample(label, cycles) {
  global.gc();
  const m = process.memoryUsage();
  const s = {
    label,
    cycles,
    atMs: elapsed(),
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    fds: openFds(),
    threads: threads(),
  };
  samples.push(s);
  if (!JSON_OUT) printSample(s);
  return s;
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls (bounded) until fds and threads are at or below `target`: sockets
 * close and helper threads finish a little after the close events.
 */
async function settleTo(target) {
  const start = performance.now();
  for (;;) {
    const fds = openFds();
    const th = threads();
    const ms = Math.round(performance.now() - start);
    if (fds <= target.fds && th <= target.threads) return { settled: true, ms, fds, threads: th };
    if (ms >= SETTLE_MS) return { settled: false, ms, fds, threads: th };
    await delay(10);
  }
}

/** Polls (bounded) until fds and threads have not changed for 20 polls: the baseline. */
async function steady() {
  const start = performance.now();
  let last = '';
  let same = 0;
  while (same < 20 && performance.now() - start < SETTLE_MS) {
    const now = `${openFds()}/${threads()}`;
    same = now === last ? same + 1 : 0;
    last = now;
    await delay(10);
  }
}

function withLimit(promise, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${CYCLE_LIMIT_MS} ms`)), CYCLE_LIMIT_MS);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

// ------------------------------------------------------------------ server
function startServer(certs) {
  const args = certs ? [JSON.stringify({ key: certs.key, cert: certs.cert })] : [];
  const child = fork(path.join(__dirname, 'soak-server.js'), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`soak server exited (${code})`)));
  });
  return { child, port };
}

function serverCounts(child) {
  return withLimit(
    new Promise((resolve) => {
      const on = (m) => {
        if (m && m.counts) {
          child.off('message', on);
          resolve(m.counts);
        }
      };
      child.on('message', on);
      child.send({ cmd: 'counts' });
    }),
    'server counts',
  );
}

// ------------------------------------------------------------------ phases
const failures = [];
/** Options of every session: the CA with --tls. */
let base = {};

async function connectCloseCycles(url, n, label) {
  const every = Math.max(1, Math.floor(n / POINTS));
  const start = performance.now();
  for (let i = 1; i <= n; i++) {
    const client = connect(url, base);
    try {
      await withLimit(client.opened, `cycle ${i}: open`);
      await withLimit(client.close(1000), `cycle ${i}: close`);
    } catch (error) {
      failures.push(`${label} cycle ${i}: ${error.code ?? ''} ${error.message}`);
      client.terminate();
      if (failures.length > 10) throw new Error(failures.join('\n'));
    }
    if (label && i % every === 0 && i < n) sample(label, i);
  }
  return Math.round(performance.now() - start);
}

/** One session; the server kills each connection as soon as it asks. */
async function forcedReconnects(url, n, label) {
  const every = Math.max(1, Math.floor(n / POINTS));
  const start = performance.now();
  const client = connect(url, { ...base, reconnect: { backoffMs: [BACKOFF], jitterPercent: 1 } });
  let opens = 0;
  let disconnects = 0;
  const causes = {};
  client.on('disconnect', (d) => {
    disconnects++;
    causes[d.cause] = (causes[d.cause] ?? 0) + 1;
  });
  let stalled;
  const done = new Promise((resolve, reject) => {
    client.on('close', (code, reason) => reject(new Error(`session closed early: ${code} ${reason}`)));
    client.on('open', () => {
      opens++;
      clearTimeout(stalled);
      stalled = setTimeout(() => reject(new Error(`no open for ${CYCLE_LIMIT_MS} ms after open ${opens}`)), CYCLE_LIMIT_MS);
      const reconnects = opens - 1;
      if (label && reconnects > 0 && reconnects % every === 0 && reconnects < n) sample(label, reconnects);
      if (reconnects >= n) resolve();
      else client.send('kill');
    });
  });
  try {
    await done;
  } finally {
    clearTimeout(stalled);
  }
  await withLimit(client.close(1000), 'reconnect session close');
  const ms = Math.round(performance.now() - start);
  return { ms, opens, disconnects, causes };
}

// ------------------------------------------------------------------ output
const MiB = (b) => (b / 1048576).toFixed(1);
function printSample(s) {
  console.log(
    `${s.label.padEnd(20)} ${String(s.cycles).padStart(6)}  ${String(s.atMs).padStart(7)} ms  ` +
      `rss ${MiB(s.rss).padStart(6)} MiB  heap ${MiB(s.heapUsed).padStart(5)}/${MiB(s.heapTotal).padStart(5)} MiB  ext ${MiB(s.external).padStart(4)} MiB  fds ${String(s.fds).padStart(3)}  threads ${s.threads}`,
  );
}

// -------------------------------------------------------------------- main
async function main() {
  const certs = TLS ? makeCerts() : null;
  if (certs) base = { ca: fs.readFileSync(certs.ca, 'utf8') };
  const { child, port: portPromise } = startServer(certs);
  try {
    const port = await withLimit(portPromise, 'server start');
    const url = `${TLS ? 'wss' : 'ws'}://${HOST.includes(':') ? `[${HOST}]` : HOST}:${port}/`;
    if (!JSON_OUT) {
      console.log(`soak: ${CONNECT} connect/close + ${RECONNECT} forced reconnects (backoff [${BACKOFF}] ms) against ${url}`);
      console.log(`node ${process.version}, pid ${process.pid}; figures after a full GC\n`);
      console.log(`${'sample'.padEnd(20)} ${'cycles'.padStart(6)}  ${'time'.padStart(10)}`);
    }
    const start = sample('start', 0);

    await connectCloseCycles(url, WARMUP, null);
    await forcedReconnects(url, WARMUP, null);
    await steady();
    const baseline = sample('baseline (warm)', WARMUP);

    const connectMs = await connectCloseCycles(url, CONNECT, 'connect/close');
    const settleConnect = await settleTo(baseline);
    const afterConnect = sample('connect/close end', CONNECT);

    const reconnect = await forcedReconnects(url, RECONNECT, 'reconnect');
    const settleReconnect = await settleTo(baseline);
    const end = sample('end', RECONNECT);
    const server = await serverCounts(child);

    const report = {
      config: { connect: CONNECT, reconnect: RECONNECT, backoffMs: BACKOFF, warmup: WARMUP, url, tls: TLS, node: process.version },
      samples,
      phases: {
        connectClose: { cycles: CONNECT, ms: connectMs, settle: settleConnect },
        reconnect: { cycles: RECONNECT, ...reconnect, settle: settleReconnect },
      },
      growth: {
        rss: end.rss - baseline.rss,
        heapUsed: end.heapUsed - baseline.heapUsed,
        fds: end.fds - baseline.fds,
        threads: end.threads - baseline.threads,
        rssFromStart: end.rss - start.rss,
      },
      afterConnectClose: { fds: afterConnect.fds - baseline.fds, threads: afterConnect.threads - baseline.threads },
      server,
      failures,
      totalMs: elapsed(),
    };
    if (JSON_OUT) {
      console.log(JSON.stringify(report));
    } else {
      const per = (ms, n) => (n ? `${((ms * 1000) / n).toFixed(0)} µs/cycle` : '');
      console.log('');
      console.log(`connect/close: ${CONNECT} cycles in ${connectMs} ms (${per(connectMs, CONNECT)}); fds/threads back at baseline: ${settleConnect.settled} after ${settleConnect.ms} ms`);
      console.log(`reconnect:     ${RECONNECT} cycles in ${reconnect.ms} ms (${per(reconnect.ms, RECONNECT)}); disconnect causes ${JSON.stringify(reconnect.causes)}; back at baseline: ${settleReconnect.settled} after ${settleReconnect.ms} ms`);
      console.log(`growth from the warm baseline: rss ${MiB(report.growth.rss)} MiB, heap ${MiB(report.growth.heapUsed)} MiB, fds ${report.growth.fds}, threads ${report.growth.threads}`);
      console.log(`server: ${JSON.stringify(server)}; failures: ${failures.length}${failures.length ? `\n${failures.join('\n')}` : ''}`);
    }
  } finally {
    child.kill();
    if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
