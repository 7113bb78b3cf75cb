'use strict';
// The reconnect herd: N sessions on one server (bench/herd-server.js, its
// own process), which then drops them all at once. Each session reconnects
// by its backoff; this measures when. Two ways to drop:
//   restart  the server is SIGKILLed (every connection drops without a Close
//            frame) and started again on the same port: connections are
//            refused until the new process listens (Node's start-up)
//   drop     the server destroys every connection and keeps listening: the
//            schedule alone decides
// Reports, per schedule:
//   median / p90 first reconnect   how long each session was without a
//                                  connection (its open's downtimeMs: from
//                                  its own loss to its reopen)
//   all back                       from the drop to the last reopen
//   busiest 100 ms (opens)         the largest share of the reopens in any
//                                  100 ms window (sliding): the spike the
//                                  server takes
//   busiest 100 ms (attempts)      the same for the first reconnection
//                                  attempts, as the clients scheduled them
//                                  (loss + delay; what the client decides)
//   attempts/session               connection attempts until all were back
// It reports; it asserts nothing (test/backoff.test.ts checks the default
// schedule's spread; README, persistence, has the figures).
//
//   node bench/herd.js                          1,000 sessions, restart, both schedules
//   node bench/herd.js --mode drop --runs 3
//
// Flags:
//   --sessions N      sessions (default 1000)
//   --mode M          restart | drop | both (default restart)
//   --schedule S      default | legacy | both (default both). legacy: the
//                     schedule before full jitter: 500 ms, 1 s, 2 s, 5 s,
//                     10 s, 30 s plus 0-30 % (lws's retry helper)
//   --down-ms MS      restart: extra time the server stays down (default 0)
//   --runs K          drops per schedule and mode, figures pooled; the worst
//                     busiest window is kept (default 1)
//   --json            one JSON object on stdout instead of the table
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { connect } = require(path.join(__dirname, '..', 'dist', 'cjs', 'index.js'));

const argv = process.argv.slice(2);
const value = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
if (argv.includes('--help') || argv.includes('-h')) {
  console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 37).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
const SESSIONS = Number(value('--sessions', 1000));
const DOWN_MS = Number(value('--down-ms', 0));
const RUNS = Number(value('--runs', 1));
const which = value('--schedule', 'both');
const mode = value('--mode', 'restart');
const json = argv.includes('--json');

const SCHEDULES = {
  default: {},
  legacy: { backoffMs: [500, 1000, 2000, 5000, 10000, 30000], jitter: 'add', jitterPercent: 30 },
};

function startServer(port) {
  const child = spawn(process.execPath, [path.join(__dirname, 'herd-server.js'), String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const m = /listening (\d+)/.exec(buf);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (code) => reject(new Error(`herd server exited (${code}) before listening`)));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Largest number of values within any window of `ms` (values sorted). */
function busiest(sorted, ms) {
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i] - sorted[j] >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];

async function run(name, reconnect, how) {
  let server = await startServer(0);
  const port = server.port;
  const clients = [];
  const reopened = [];
  const downtimes = [];
  const firstAttempt = [];
  let attempts = 0;
  let droppedAt = 0;
  let opens = 0;
  let allOpen;
  const allOpened = new Promise((r) => {
    allOpen = r;
  });
  for (let i = 0; i < SESSIONS; i++) {
    const c = connect(`ws://127.0.0.1:${port}/`, { heartbeat: false, reconnect });
    let first = true;
    c.on('error', () => undefined);
    c.on('reconnecting', (r) => {
      if (!droppedAt) return;
      attempts++;
      if (first) {
        // When the client will start its first attempt: the loss (service
        // thread's time, stats log) plus the delay it drew.
        first = false;
        const log = c.stats().log.filter((e) => e.event === 'reconnecting');
        firstAttempt.push(log[log.length - 1].at + r.delayMs - droppedAt);
      }
    });
    c.on('open', (info) => {
      opens++;
      first = true;
      if (!droppedAt) {
        if (opens === SESSIONS) allOpen();
        return;
      }
      // The service thread's own time of the open (stats log), not when JS saw it.
      const log = c.stats().log.filter((e) => e.event === 'open');
      reopened.push(log[log.length - 1].at - droppedAt);
      downtimes.push(info.downtimeMs);
      if (reopened.length === SESSIONS) allOpen();
    });
    clients.push(c);
  }
  await allOpened;
  const results = [];
  for (let r = 0; r < RUNS; r++) {
    reopened.length = 0;
    downtimes.length = 0;
    firstAttempt.length = 0;
    attempts = 0;
    const back = new Promise((resolve) => {
      allOpen = resolve;
    });
    droppedAt = Date.now();
    let listeningMs = 0;
    if (how === 'restart') {
      server.child.kill('SIGKILL');
      await new Promise((resolve) => server.child.once('exit', resolve));
      if (DOWN_MS) await sleep(DOWN_MS);
      server = await startServer(port);
      listeningMs = Date.now() - droppedAt;
    } else {
      server.child.stdin.write('drop\n');
    }
    await back;
    results.push({
      opens: [...reopened].sort((a, b) => a - b),
      downtimes: [...downtimes],
      firsts: [...firstAttempt].sort((a, b) => a - b),
      attempts,
      listeningMs,
    });
    // Let the attempt counters reset (resetAfterMs, 30 s) before the next drop.
    if (r + 1 < RUNS) await sleep(31_000);
  }
  for (const c of clients) c.terminate();
  server.child.kill('SIGKILL');
  const all = results.flatMap((x) => x.downtimes).sort((a, b) => a - b);
  return {
    mode: how,
    schedule: name,
    sessions: SESSIONS,
    runs: RUNS,
    serverListeningMs: Math.round(results.reduce((s, x) => s + x.listeningMs, 0) / RUNS),
    medianFirstReconnectMs: Math.round(pct(all, 0.5)),
    p90FirstReconnectMs: Math.round(pct(all, 0.9)),
    allBackMs: Math.round(Math.max(...results.map((x) => x.opens[x.opens.length - 1]))),
    busiest100msOpens: Math.max(...results.map((x) => busiest(x.opens, 100))) / SESSIONS,
    busiest100msAttempts: Math.max(...results.map((x) => busiest(x.firsts, 100))) / SESSIONS,
    attemptsPerSession: results.reduce((s, x) => s + x.attempts, 0) / RUNS / SESSIONS,
  };
}

(async () => {
  const names = which === 'both' ? ['legacy', 'default'] : [which];
  const modes = mode === 'both' ? ['restart', 'drop'] : [mode];
  const out = [];
  for (const m of modes) {
    if (m !== 'restart' && m !== 'drop') throw new Error(`unknown mode ${m}`);
    for (const n of names) {
      if (!SCHEDULES[n]) throw new Error(`unknown schedule ${n}`);
      out.push(await run(n, SCHEDULES[n], m));
      await sleep(500);
    }
  }
  if (json) {
    console.log(JSON.stringify({ sessions: SESSIONS, downMs: DOWN_MS, results: out }));
  } else {
    console.log(`herd: ${SESSIONS} sessions dropped at once, ${RUNS} run(s) each`);
    console.log('mode     schedule  server up  median first  p90 first  all back  busiest 100 ms: opens  attempts  attempts/session');
    for (const r of out) {
      console.log(
        `${r.mode.padEnd(8)} ${r.schedule.padEnd(8)} ${r.mode === 'restart' ? `${String(r.serverListeningMs).padStart(6)} ms` : '        -'} ${String(r.medianFirstReconnectMs).padStart(10)} ms ${String(r.p90FirstReconnectMs).padStart(7)} ms ${String(r.allBackMs).padStart(6)} ms ${(100 * r.busiest100msOpens).toFixed(1).padStart(18)} % ${(100 * r.busiest100msAttempts).toFixed(1).padStart(7)} % ${r.attemptsPerSession.toFixed(2).padStart(12)}`,
      );
    }
  }
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
