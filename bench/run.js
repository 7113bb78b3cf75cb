'use strict';
// Benchmark suite: node-libwebsockets vs ws 8 (+bufferutil, utf-8-validate)
// vs Node's WebSocket (undici), with a node:net floor. See bench/NOTES.md.
//
//   npm run bench                      full run, both modes (~35 min on 2 cores)
//   npm run bench -- --quick           a ~5 minute subset
//   npm run bench -- --only echo,idle  some workloads only
//   npm run bench -- --modes onecore   one mode only (unpinned, onecore)
//   other flags: --reps N (default 3), --out FILE (default bench/RESULTS.md),
//                --no-syscalls        skip the extra runs that count system calls with perf
//                --clients ws,nlws    only these clients (ws is always run: ratios are to it)
//                --server-send ws     stream through ws.send() instead of pre-framed writes
//
// Workloads: recv (receive throughput and JS-thread cost), echo, pipeline,
// send, idle, reconnect. Modes: unpinned (client and server free to use
// both CPUs) and onecore (client process pinned to CPU 0, server to CPU 1).
const { fork, execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { makeCerts } = require('./certs');

// ------------------------------------------------------------------ options
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const value = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
};
const QUICK = flag('--quick');
const REPS = Math.max(1, Number(value('--reps', 3)));
const OUT = path.resolve(value('--out', path.join(__dirname, 'RESULTS.md')));
const SERVER_SEND = value('--server-send', 'frames');
const ALL = ['recv', 'echo', 'pipeline', 'send', 'idle', 'reconnect'];
const ONLY = value('--only', null);
const WORKLOADS = ONLY ? ONLY.split(',').map((s) => s.trim()) : ALL;
for (const w of WORKLOADS) {
  if (!ALL.includes(w)) {
    console.error(`unknown workload ${w}; one of ${ALL.join(', ')}`);
    process.exit(2);
  }
}
const ALL_MODES = ['unpinned', 'onecore'];
const MODES = value('--modes', ALL_MODES.join(',')).split(',').map((s) => s.trim());
for (const m of MODES) {
  if (!ALL_MODES.includes(m)) {
    console.error(`unknown mode ${m}; one of ${ALL_MODES.join(', ')}`);
    process.exit(2);
  }
}
if (flag('--help') || flag('-h')) {
  console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 15).join('\n'));
  process.exit(0);
}
// One-core mode: the client process (all its threads) on CPU 0, the server on
// CPU 1, through taskset(1) at exec, so every thread inherits the mask.
const PIN = { unpinned: { client: null, server: null }, onecore: { client: 0, server: 1 } };
const MODE_TITLE = {
  unpinned: 'Unpinned (client and server may use both CPUs)',
  onecore: 'One core (client process pinned to CPU 0, server to CPU 1)',
};
let TASKSET = null;
try {
  TASKSET = execFileSync('sh', ['-c', 'command -v taskset'], { encoding: 'utf8' }).trim() || null;
} catch {
  TASKSET = null;
}
if (MODES.includes('onecore') && (!TASKSET || os.cpus().length < 2)) {
  console.error('onecore mode needs taskset(1) (util-linux) and at least 2 CPUs');
  process.exit(2);
}
/** fork(), with the child pinned to `cpu` (null: not pinned). */
function forkOn(cpu, script, args, opts) {
  if (cpu == null) return fork(script, args, opts);
  return fork(script, args, { ...opts, execPath: TASKSET, execArgv: ['-c', String(cpu), process.execPath, ...(opts.execArgv || [])] });
}

const T = QUICK
  ? { warmupMs: 200, windowMs: 600, echoWarm: 1000, echoCount: 5000 }
  : { warmupMs: 250, windowMs: 800, echoWarm: 2000, echoCount: 20000 };

// --clients ws,nlws: a subset (ws is always kept: ratios are to it), for
// short targeted runs; the floor (raw) still runs in receive cells.
const CLIENTS = ['ws', 'nlws', 'undici'].filter((k) => k === 'ws' || !value('--clients', null) || value('--clients', '').split(',').includes(k)); // ws first: the reference
const LABEL = { ws: 'ws 8', nlws: 'node-libwebsockets', undici: 'undici WebSocket', raw: 'node:net floor' };

const RECV_CELLS = QUICK
  ? [
      { tls: false, binary: true, size: 16 },
      { tls: false, binary: true, size: 65536 },
      { tls: true, binary: true, size: 65536 },
    ]
  : [false, true].flatMap((tls) => [
      { tls, binary: true, size: 16 },
      { tls, binary: true, size: 128 },
      { tls, binary: true, size: 1024 },
      { tls, binary: true, size: 65536 },
      { tls, binary: false, size: 128 },
    ]);
const ECHO_CELLS = QUICK ? [{ tls: false, size: 64 }] : [{ tls: false, size: 64 }, { tls: true, size: 64 }];
const PIPE_CELLS = [{ tls: false, size: 64, inflight: 1000 }];
const SEND_CELLS = QUICK ? [] : [{ tls: false, size: 64 }, { tls: false, size: 16384 }];
const IDLE_COUNTS = QUICK ? [1000] : [1000, 10000];
const BACKOFFS = QUICK ? [[100]] : [[100], [1000]];
const RESTARTS = QUICK ? 3 : 5;

// ------------------------------------------------------------------ processes
const children = new Set();
function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
function killAll() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
let certs;
process.on('exit', () => {
  killAll();
  if (certs) fs.rmSync(certs.dir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => process.exit(130));
process.on('uncaughtException', (e) => {
  console.error(e);
  process.exit(1);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Server {
  static async start(extra = {}) {
    const s = new Server();
    s.child = track(
      forkOn(PIN[mode].server, path.join(__dirname, 'server.js'), [JSON.stringify({ key: certs.key, cert: certs.cert, ...extra })], {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    s.pending = new Map();
    s.nextId = 1;
    const listening = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server did not start within 15 s')), 15000);
      s.child.on('message', (m) => {
        if (m.type === 'listening') {
          clearTimeout(t);
          resolve(m);
        } else if (m.type === 'fatal') reject(new Error(m.error));
        else if (m.id && s.pending.has(m.id)) {
          s.pending.get(m.id)(m);
          s.pending.delete(m.id);
        }
      });
      s.child.on('exit', (code) => reject(new Error(`server exited (${code})`)));
    });
    const m = await listening;
    s.ports = m.ports;
    s.listeningAt = m.at;
    return s;
  }
  cmd(c, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`server did not answer ${c.cmd}`));
      }, timeoutMs);
      this.pending.set(id, (m) => {
        clearTimeout(t);
        resolve(m);
      });
      this.child.send({ id, ...c });
    });
  }
  kill() {
    this.child.kill('SIGKILL');
    return new Promise((r) => (this.child.exitCode !== null || this.child.signalCode ? r() : this.child.once('exit', r)));
  }
}

/**
 * Forks one client, returns its result (or { error }). onMessage sees its
 * other IPC messages (reconnect workload); keep: the result comes while the
 * client still holds its connections, and `whileHeld` runs before it is told to exit.
 */
function runClient(kind, workload, size, tls, cfg, { onMessage, whileHeld, syscalls } = {}) {
  const timeoutMs = cfg.timeoutMs;
  if (syscalls) cfg = { ...cfg, markWindow: true };
  return new Promise((resolve) => {
    const child = track(
      forkOn(PIN[mode].client, path.join(__dirname, 'client.js'), [kind, workload, String(size), tls ? '1' : '0', JSON.stringify(cfg)], {
        execArgv: ['--expose-gc'],
        stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      }),
    );
    if (cfg.raiseFds) raiseFds(child.pid, cfg.raiseFds);
    let stderr = '';
    child.stderr.on('data', (d) => {
      if (stderr.length < 4000) stderr += d;
    });
    let result = null;
    let counter = null; // perf, attached to the client during its window
    let counted = Promise.resolve(null);
    const t = setTimeout(() => {
      result ??= { error: `no result within ${timeoutMs + 10000} ms (killed)` };
      child.kill('SIGKILL');
    }, timeoutMs + 10000);
    child.on('message', async (m) => {
      if (m.type === 'result') {
        result = m;
        if (whileHeld) {
          try {
            result.held = await whileHeld(child);
          } catch (e) {
            result.held = { error: String(e) };
          }
          child.send({ cmd: 'exit' });
        }
      } else if (m.type === 'window' && syscalls) {
        if (m.phase === 'start' && !counter) {
          counter = countSyscalls(child.pid);
          counted = counter.done;
        } else if (m.phase === 'end' && counter) counter.stop();
      } else if (onMessage) onMessage(m, child);
    });
    child.on('exit', async (code, signal) => {
      clearTimeout(t);
      if (counter) counter.stop();
      const sc = await counted;
      if (!result) result = { error: `exited (${signal || code}) without a result` };
      if (sc) result.syscalls = sc;
      if (stderr.trim() && (result.error || code)) result.stderr = stderr.trim().slice(0, 2000);
      if (code && !result.error && !signal) result.exitCode = code;
      resolve(result);
    });
  });
}

// ------------------------------------------------------------------ system calls
// perf counts a client's system calls (tracepoints; no hardware counters
// needed, which this VM lacks) between the window marks the client sends.
// Interval mode (-I) prints each 100 ms; rates are count / time enabled.
const SYSCALL_GROUPS = {
  all: ['raw_syscalls:sys_enter'],
  reads: ['syscalls:sys_enter_read', 'syscalls:sys_enter_readv', 'syscalls:sys_enter_recvfrom', 'syscalls:sys_enter_recvmsg'],
  writes: ['syscalls:sys_enter_write', 'syscalls:sys_enter_writev', 'syscalls:sys_enter_sendto', 'syscalls:sys_enter_sendmsg'],
  waits: ['syscalls:sys_enter_poll', 'syscalls:sys_enter_ppoll', 'syscalls:sys_enter_epoll_wait', 'syscalls:sys_enter_epoll_pwait', 'syscalls:sys_enter_epoll_pwait2'],
  futex: ['syscalls:sys_enter_futex'],
  switches: ['context-switches'],
};
let PERF_EVENTS = null; // the events this machine's perf can count, or null
function probePerf() {
  const events = [];
  for (const list of Object.values(SYSCALL_GROUPS)) {
    for (const e of list) {
      try {
        execFileSync('perf', ['stat', '-x,', '-e', e, 'true'], { stdio: 'ignore', timeout: 10000 });
        events.push(e);
      } catch {
        // not countable here
      }
    }
  }
  return events.includes('raw_syscalls:sys_enter') ? events : null;
}
function countSyscalls(pid) {
  const p = spawn('perf', ['stat', '-x,', '-I', '100', '-p', String(pid), ...PERF_EVENTS.flatMap((e) => ['-e', e])], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let out = '';
  p.stderr.on('data', (d) => {
    out += d;
  });
  const done = new Promise((resolve) => {
    p.on('error', () => resolve(null));
    p.on('close', () => {
      const sum = {};
      const ns = {};
      for (const line of out.split('\n')) {
        const f = line.trim().split(',');
        if (f.length < 5 || !Number.isFinite(Number(f[1]))) continue;
        sum[f[3]] = (sum[f[3]] || 0) + Number(f[1]);
        ns[f[3]] = (ns[f[3]] || 0) + Number(f[4]);
      }
      const rates = {};
      for (const [group, list] of Object.entries(SYSCALL_GROUPS)) {
        let r = 0;
        let any = false;
        for (const e of list) {
          if (sum[e] != null && ns[e] > 0) {
            r += sum[e] / (ns[e] / 1e9);
            any = true;
          }
        }
        if (any) rates[group] = r; // per second
      }
      resolve(rates.all != null ? rates : null);
    });
  });
  return { done, stop: () => p.exitCode === null && p.kill('SIGINT') };
}

// ------------------------------------------------------------------ statistics
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
function summarize(runs, key) {
  const xs = runs.filter((r) => !r.error && Number.isFinite(r[key])).map((r) => r[key]);
  if (!xs.length) return null;
  return { med: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

// ------------------------------------------------------------------ results
const run = { meta: {}, modes: {}, failures: [] };
const emptyResults = () => ({ recv: [], echo: [], pipeline: [], send: [], idle: [], reconnect: [], syscalls: [] });
let mode = MODES[0];
let results = emptyResults(); // the current mode's
function note(group, cell, kind, r) {
  if (r.error) run.failures.push({ mode, group, cell, kind, error: r.error, stderr: r.stderr });
}
function progress(s) {
  process.stdout.write(`${s}\n`);
}

// ------------------------------------------------------------------ workloads
/** Busy CPU time of the whole machine so far, ms (from /proc/stat). */
function machineBusyMs() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return ((user + nice + system + irq + softirq + (steal || 0)) * 1000) / 100; // USER_HZ = 100
}

/**
 * Runs one client and adds: the server's CPU use (cores) while it ran, and
 * `foreignCpu`: CPU (cores) the machine spent outside the client and server
 * processes meanwhile (other programs; also this orchestrator), a check that
 * nothing else was competing for the 2 cores.
 */
const FOREIGN_MAX = 0.25; // cores used by other programs above which a run is repeated
const QUIET_MAX = 0.2; // machine busy (cores) below which a run may start
const QUIET_BUDGET_MS = 240000; // total time the whole suite may wait for a quiet machine
let quietBudgetMs = QUIET_BUDGET_MS;
const contention = { waitedMs: 0, retried: 0, stillBusy: 0 };

/** Waits (within the budget) until the machine is quiet: nothing but our idle server running. */
async function waitQuiet() {
  for (;;) {
    const b0 = machineBusyMs();
    const t0 = Date.now();
    await sleep(200);
    const cores = (machineBusyMs() - b0) / (Date.now() - t0);
    if (cores < QUIET_MAX || quietBudgetMs <= 0) return cores;
    await sleep(700);
    quietBudgetMs -= Date.now() - t0;
    contention.waitedMs += Date.now() - t0;
  }
}

/** One measurement: waits for a quiet machine, repeats (twice at most) a run disturbed by other programs. */
async function measure(server, fn) {
  for (let attempt = 0; ; attempt++) {
    await waitQuiet();
    const r = await serverCpu(server, fn);
    if (r.error || r.foreignCpu == null || r.foreignCpu <= FOREIGN_MAX || attempt === 2) {
      if (r.foreignCpu > FOREIGN_MAX) contention.stillBusy++;
      r.attempts = attempt + 1;
      return r;
    }
    contention.retried++;
    progress(`  (other programs used ${r.foreignCpu.toFixed(2)} cores during that run: repeating it)`);
  }
}

async function serverCpu(server, fn) {
  const a = await server.cmd({ cmd: 'report' });
  const busy0 = machineBusyMs();
  const r = await fn();
  const busy1 = machineBusyMs();
  const b = await server.cmd({ cmd: 'report' });
  const wall = b.at - a.at;
  const serverMs = (b.cpuUs - a.cpuUs) / 1000;
  r.serverCpu = serverMs / wall;
  if (r.totalCpuMs != null) r.foreignCpu = Math.max(0, (busy1 - busy0 - serverMs - r.totalCpuMs) / wall);
  r.cipher = b.cipher;
  return r;
}

async function recvWorkload(server) {
  for (const cell of RECV_CELLS) {
    const wl = cell.binary ? 'recv-binary' : 'recv-text';
    // Unbounded in count (the server's stream stops after 60 s or when the client leaves).
    await server.cmd({ cmd: 'mode', mode: { mode: 'stream', n: 1e12, size: cell.size, binary: cell.binary, send: SERVER_SEND } });
    const entry = { ...cell, runs: {} };
    for (let rep = 0; rep < REPS; rep++) {
      for (const kind of ['raw', ...CLIENTS]) {
        const cfg = { ports: server.ports, ca: certs.ca, warmupMs: T.warmupMs, windowMs: T.windowMs, n: 1e12, timeoutMs: 20000 };
        const r = await measure(server, () => runClient(kind, wl, cell.size, cell.tls, cfg));
        (entry.runs[kind] ??= []).push(r);
        note('recv', cell, kind, r);
        progress(`recv ${cell.tls ? 'tls' : 'plain'} ${cell.binary ? 'bin' : 'text'} ${cell.size} B ${kind} #${rep + 1}: ` +
          (r.error ? `ERROR ${r.error}` : `${fmtNum(r.msgsPerSec)} msg/s ${r.MBps.toFixed(1)} MB/s elu ${r.elu.toFixed(2)}`));
      }
    }
    await syscallRuns('recv', cellName(cell), CLIENTS, (kind) => {
      const cfg = { ports: server.ports, ca: certs.ca, warmupMs: T.warmupMs, windowMs: T.windowMs, n: 1e12, timeoutMs: 20000 };
      return measure(server, () => runClient(kind, wl, cell.size, cell.tls, cfg, { syscalls: true }));
    });
    results.recv.push(entry);
  }
}

/**
 * One more run per client with perf counting its system calls during the
 * window (that run's other figures are not used: the tracepoints cost a
 * little per call). Per message = calls per second / messages per second.
 */
async function syscallRuns(group, label, kinds, runOne) {
  if (!PERF_EVENTS) return;
  const row = { group, label, kinds: {} };
  for (const kind of kinds) {
    const r = await runOne(kind);
    if (r.error || !r.syscalls || !(r.msgsPerSec > 0)) {
      row.kinds[kind] = { error: r.error || 'perf counted nothing' };
      note(`${group} syscalls`, label, kind, { error: row.kinds[kind].error, stderr: r.stderr });
      continue;
    }
    const per = {};
    for (const [g, rate] of Object.entries(r.syscalls)) per[g] = rate / r.msgsPerSec;
    row.kinds[kind] = per;
    progress(`${label} ${kind} (perf): ${per.all.toFixed(3)} syscalls/msg`);
  }
  results.syscalls.push(row);
}

async function echoWorkload(server) {
  await server.cmd({ cmd: 'mode', mode: { mode: 'echo' } });
  for (const cell of ECHO_CELLS) {
    const entry = { ...cell, runs: {} };
    for (let rep = 0; rep < REPS; rep++) {
      for (const kind of CLIENTS) {
        const cfg = { ports: server.ports, ca: certs.ca, warmupCount: T.echoWarm, count: T.echoCount, timeoutMs: 60000 };
        const r = await measure(server, () => runClient(kind, 'echo', cell.size, cell.tls, cfg));
        (entry.runs[kind] ??= []).push(r);
        note('echo', cell, kind, r);
        progress(`echo ${cell.tls ? 'tls' : 'plain'} ${cell.size} B ${kind} #${rep + 1}: ` +
          (r.error ? `ERROR ${r.error}` : `p50 ${r.p50.toFixed(1)} us p99 ${r.p99.toFixed(1)} us p99.9 ${r.p999.toFixed(1)} us`));
      }
    }
    await syscallRuns('echo', `echo ${cell.tls ? 'TLS' : 'plain'} ${sizeName(cell.size)}`, CLIENTS, (kind) => {
      const cfg = { ports: server.ports, ca: certs.ca, warmupCount: T.echoWarm, count: T.echoCount, timeoutMs: 60000 };
      return measure(server, () => runClient(kind, 'echo', cell.size, cell.tls, cfg, { syscalls: true }));
    });
    results.echo.push(entry);
  }
}

async function pipelineWorkload(server) {
  await server.cmd({ cmd: 'mode', mode: { mode: 'echo' } });
  for (const cell of PIPE_CELLS) {
    const entry = { ...cell, runs: {} };
    for (let rep = 0; rep < REPS; rep++) {
      for (const kind of CLIENTS) {
        const cfg = { ports: server.ports, ca: certs.ca, warmupMs: T.warmupMs, windowMs: T.windowMs, inflight: cell.inflight, timeoutMs: 20000 };
        const r = await measure(server, () => runClient(kind, 'pipeline', cell.size, cell.tls, cfg));
        (entry.runs[kind] ??= []).push(r);
        note('pipeline', cell, kind, r);
        progress(`pipeline ${cell.size} B x${cell.inflight} ${kind} #${rep + 1}: ` +
          (r.error ? `ERROR ${r.error}` : `${fmtNum(r.msgsPerSec)} round trips/s elu ${r.elu.toFixed(2)} server cpu ${r.serverCpu.toFixed(2)}`));
      }
    }
    await syscallRuns('pipeline', `pipelined echo ${sizeName(cell.size)} ×${cell.inflight}`, CLIENTS, (kind) => {
      const cfg = { ports: server.ports, ca: certs.ca, warmupMs: T.warmupMs, windowMs: T.windowMs, inflight: cell.inflight, timeoutMs: 20000 };
      return measure(server, () => runClient(kind, 'pipeline', cell.size, cell.tls, cfg, { syscalls: true }));
    });
    results.pipeline.push(entry);
  }
}

async function sendWorkload(server) {
  for (const cell of SEND_CELLS) {
    await server.cmd({ cmd: 'mode', mode: { mode: 'sink' } });
    const entry = { ...cell, runs: {} };
    for (let rep = 0; rep < REPS; rep++) {
      for (const kind of CLIENTS) {
        const cfg = { ports: server.ports, ca: certs.ca, warmupMs: T.warmupMs, windowMs: T.windowMs, hwm: 1 << 20, timeoutMs: 20000 };
        const r = await measure(server, () => runClient(kind, 'send', cell.size, cell.tls, cfg));
        (entry.runs[kind] ??= []).push(r);
        note('send', cell, kind, r);
        progress(`send ${cell.size} B ${kind} #${rep + 1}: ` +
          (r.error ? `ERROR ${r.error}` : `${fmtNum(r.msgsPerSec)} msg/s ${r.MBps.toFixed(1)} MB/s elu ${r.elu.toFixed(2)} server cpu ${r.serverCpu.toFixed(2)}`));
      }
    }
    await syscallRuns('send', `send plain ${sizeName(cell.size)}`, CLIENTS, (kind) => {
      const cfg = { ports: server.ports, ca: certs.ca, warmupMs: T.warmupMs, windowMs: T.windowMs, hwm: 1 << 20, timeoutMs: 20000 };
      return measure(server, () => runClient(kind, 'send', cell.size, cell.tls, cfg, { syscalls: true }));
    });
    results.send.push(entry);
  }
}

function fdLimits() {
  const m = /Max open files\s+(\S+)\s+(\S+)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return m ? { soft: Number(m[1]), hard: Number(m[2]) } : null;
}

/** Raises a process's fd limit (root, util-linux prlimit); returns an error text or null. */
function raiseFds(pid, n) {
  try {
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${n}:${n}`], { timeout: 5000 });
    return null;
  } catch (e) {
    return String(e.message || e).split('\n')[0];
  }
}

async function idleWorkload(server) {
  await server.cmd({ cmd: 'mode', mode: { mode: 'idle' } });
  for (const n of IDLE_COUNTS) {
    const entry = { connections: n, runs: {}, notes: [] };
    // Node raises its soft fd limit to the hard one at start-up; client and
    // server each need n descriptors plus some.
    const lim = fdLimits();
    let raise = 0;
    if (lim && lim.hard < n + 500) {
      raise = n + 1000;
      const err = raiseFds(server.child.pid, raise);
      entry.notes.push(`hard fd limit ${lim.hard} < ${n + 500}: server and clients raised to ${raise} with prlimit(1)${err ? ` (server: ${err})` : ''}`);
    }
    for (let rep = 0; rep < REPS; rep++) {
      for (const kind of CLIENTS) {
        const cfg = { ports: server.ports, ca: certs.ca, concurrency: 100, settleMs: 2000, timeoutMs: n > 2000 ? 150000 : 60000, raiseFds: raise };
        const r = await measure(server, () =>
          runClient(kind, 'idle', n, false, cfg, {
            whileHeld: async () => {
              const rep2 = await server.cmd({ cmd: 'report' });
              return { serverConnections: rep2.connections };
            },
          }),
        );
        // Let the server see the previous client's connections go.
        for (let i = 0; i < 100; i++) {
          const rr = await server.cmd({ cmd: 'report' });
          if (rr.connections === 0) break;
          await sleep(100);
        }
        (entry.runs[kind] ??= []).push(r);
        note('idle', { connections: n }, kind, r);
        progress(`idle ${n} ${kind} #${rep + 1}: ` +
          (r.error
            ? `ERROR ${r.error}`
            : `opened ${r.opened}/${n} in ${r.openMs.toFixed(0)} ms, ${r.rssPerConnKB.toFixed(1)} KB RSS/conn, server holds ${r.held && r.held.serverConnections}${r.firstError ? `, first error ${r.firstError}` : ''}`));
      }
    }
    results.idle.push(entry);
  }
}

async function reconnectWorkload() {
  for (const backoffMs of BACKOFFS) {
    const entry = { backoffMs, restarts: [], runs: { nlws: [] } };
    for (let rep = 0; rep < REPS; rep++) {
      let server = await Server.start({ mode: { mode: 'hello' } });
      const ports = server.ports;
      const events = [];
      let waiter = null;
      const onMessage = (m) => {
        events.push(m);
        if (waiter && waiter.test(m)) {
          const w = waiter;
          waiter = null;
          w.resolve(m);
        }
      };
      const waitFor = (test, ms) =>
        new Promise((resolve) => {
          const found = events.find(test);
          if (found) return resolve(found);
          const t = setTimeout(() => {
            waiter = null;
            resolve(null);
          }, ms);
          waiter = { test, resolve: (m) => (clearTimeout(t), resolve(m)) };
        });
      const run = { restarts: [] };
      let client;
      const done = runClient('nlws', 'reconnect', 0, false, { ports, backoffMs, jitterPercent: 0, timeoutMs: 120000 }, {
        onMessage: (m, child) => {
          client = child;
          onMessage(m);
        },
      });
      const first = await waitFor((m) => m.type === 'message', 10000);
      if (!first) run.error = 'no first message';
      for (let i = 0; first && i < RESTARTS; i++) {
        const killedAt = Date.now();
        await server.kill();
        const disc = await waitFor((m) => m.type === 'disconnect' && m.at >= killedAt - 5, 5000);
        // Down for a random 0.5-1.5 s, so the restart falls at a random point of the backoff cycle.
        await sleep(500 + Math.random() * 1000);
        server = await Server.start({ mode: { mode: 'hello' }, ports });
        const up = server.listeningAt;
        const msg = await waitFor((m) => m.type === 'message' && m.at >= up, 15000);
        const attempts = events.filter((m) => m.type === 'reconnecting' && m.at >= killedAt && (!msg || m.at <= msg.at)).length;
        const rec = {
          recoveryMs: msg ? msg.at - up : null,
          disconnectDetectMs: disc ? disc.at - killedAt : null,
          attempts,
          downMs: up - killedAt,
        };
        if (!msg) rec.error = 'no message within 15 s of the restart';
        run.restarts.push(rec);
        entry.restarts.push(rec);
        progress(`reconnect backoff [${backoffMs}] #${rep + 1}.${i + 1}: ` +
          (msg ? `first message ${rec.recoveryMs.toFixed(1)} ms after the restart (${attempts} attempts, down ${rec.downMs.toFixed(0)} ms)` : rec.error));
      }
      if (client && client.connected) client.send({ cmd: 'exit' });
      const r = await done;
      if (r.error) run.error = r.error;
      note('reconnect', { backoffMs }, 'nlws', run.error ? run : {});
      await server.kill();
      entry.runs.nlws.push(run);
    }
    results.reconnect.push(entry);
  }
}

// ------------------------------------------------------------------ report
function fmtNum(x) {
  if (x == null || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1e9) return `${(x / 1e9).toFixed(2)} G`;
  if (a >= 1e6) return `${(x / 1e6).toFixed(2)} M`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)} k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}
const range = (s, f = fmtNum) => (s ? `${f(s.med)} (${f(s.min)}–${f(s.max)})${s.n < REPS ? ` [${s.n} ok]` : ''}` : 'failed');
const kb = (x) => x.toFixed(1);
const ratio = (a, b) => (a && b && b.med ? `${(a.med / b.med).toFixed(2)}` : '–');
const cellName = (c) => `${c.tls ? 'TLS' : 'plain'} ${c.binary === false ? 'text' : 'binary'} ${sizeName(c.size)}`;
function sizeName(n) {
  return n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
}

/** Max CPU (cores) other programs used during the runs of a cell (see measure()). */
function other(runs) {
  const xs = runs.filter((r) => Number.isFinite(r.foreignCpu)).map((r) => r.foreignCpu);
  return xs.length ? Math.max(...xs).toFixed(2) : '–';
}

function table(head, rows) {
  const out = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i ? '---:' : '---')).join('|')}|`];
  for (const r of rows) out.push(`| ${r.join(' | ')} |`);
  return out.join('\n');
}

function recvTables() {
  const thr = [];
  const cost = [];
  for (const e of results.recv) {
    const wsMsgs = summarize(e.runs.ws || [], 'msgsPerSec');
    const wsJs = summarize(e.runs.ws || [], 'jsUsPerMsg');
    const wsCpu = summarize(e.runs.ws || [], 'cpuUsPerMsg');
    const wsJsMB = summarize(e.runs.ws || [], 'jsMsPerMB');
    const wsJsCpu = summarize(e.runs.ws || [], 'jsCpuUsPerMsg');
    for (const kind of [...CLIENTS, 'raw']) {
      const runs = e.runs[kind] || [];
      const msgs = summarize(runs, 'msgsPerSec');
      const js = summarize(runs, 'jsUsPerMsg');
      const cpu = summarize(runs, 'cpuUsPerMsg');
      const jsMB = summarize(runs, 'jsMsPerMB');
      const jsCpu = summarize(runs, 'jsCpuUsPerMsg');
      const b = runs.find((r) => r.batches);
      thr.push([
        cellName(e), LABEL[kind], range(msgs), range(summarize(runs, 'MBps')), `**${ratio(msgs, wsMsgs)}**`,
        range(summarize(runs, 'cpuUtil'), (x) => x.toFixed(2)), range(summarize(runs, 'serverCpu'), (x) => x.toFixed(2)),
        range(summarize(runs, 'maxRssMB'), (x) => x.toFixed(0)), other(runs),
      ]);
      cost.push([
        cellName(e), LABEL[kind], range(summarize(runs, 'elu'), (x) => x.toFixed(2)), range(js), `**${ratio(js, wsJs)}**`,
        range(jsCpu), `**${ratio(jsCpu, wsJsCpu)}**`, range(cpu), `**${ratio(cpu, wsCpu)}**`,
        kind === 'nlws' ? range(summarize(runs, 'serviceCpuUsPerMsg')) : '', range(jsMB), ratio(jsMB, wsJsMB),
        b ? `${(b.batches.events / b.batches.calls).toFixed(1)} / ${(b.batches.events / Math.max(1, b.batches.chunks)).toFixed(2)}` : '',
      ]);
    }
  }
  return [
    '### Receive throughput',
    '',
    'The server streams pre-framed messages to one connection as fast as it takes them; ' +
      `msg/s and MB/s (1 MB = 10^6 payload bytes) over a ${T.windowMs} ms window after ${T.warmupMs} ms of warm-up. ` +
      '"× ws" = median / median of ws in the same run (higher is better). "client CPU" is process CPU time / wall time ' +
      '(1.00 = one core; this library has a second, native thread). "server CPU" likewise for the server process: ' +
      'well below 1, so the server is not the limit. max RSS: the client process\'s peak.',
    '',
    table(['cell', 'client', 'msg/s', 'MB/s', '× ws', 'client CPU', 'server CPU', 'max RSS MB', 'other CPU'], thr),
    '',
    '### JS-thread cost per message (same runs)',
    '',
    'ELU = event-loop utilization over the window. JS busy µs/msg = ELU × wall time / messages (wall time the JS thread was busy, ' +
      'per message; on one core that includes time it waited, runnable, for the CPU). JS CPU µs/msg = the JS thread\'s own CPU time ' +
      '(scheduler accounting) / messages. CPU µs/msg = process CPU time (all threads) / messages. service µs/msg (this library) = ' +
      'its native service thread\'s CPU time / messages. JS ms/MB = JS-thread busy time per MB of payload. ' +
      'Lower is better and "× ws" < 1 means cheaper than ws. A client whose ELU is near 1 is limited by its JS thread. ' +
      'Last column, this library only: events per JS call / events per shared buffer (diagnostic, whole run).',
    '',
    table(['cell', 'client', 'ELU', 'JS busy µs/msg', '× ws', 'JS CPU µs/msg', '× ws', 'CPU µs/msg', '× ws', 'service µs/msg', 'JS ms/MB', '× ws', 'events per call / per chunk'], cost),
  ].join('\n');
}

function echoTables() {
  const rows = [];
  for (const e of results.echo) {
    const ws = e.runs.ws || [];
    for (const kind of CLIENTS) {
      const runs = e.runs[kind] || [];
      const p50 = summarize(runs, 'p50');
      const p99 = summarize(runs, 'p99');
      const p999 = summarize(runs, 'p999');
      rows.push([
        `${e.tls ? 'TLS' : 'plain'} ${sizeName(e.size)}`, LABEL[kind], range(p50), `**${ratio(p50, summarize(ws, 'p50'))}**`,
        range(p99), `**${ratio(p99, summarize(ws, 'p99'))}**`, range(p999), ratio(p999, summarize(ws, 'p999')),
        range(summarize(runs, 'jsUsPerMsg')), range(summarize(runs, 'jsCpuUsPerMsg')),
        range(summarize(runs, 'cpuUsPerMsg')), ratio(summarize(runs, 'cpuUsPerMsg'), summarize(ws, 'cpuUsPerMsg')), other(runs),
      ]);
    }
  }
  return [
    '### Echo round trip, one message in flight',
    '',
    `One binary message, echoed by the server; the next is sent when the echo arrives. ${T.echoCount} round trips ` +
      `measured after ${T.echoWarm} of warm-up; latencies in µs (percentiles within a run, then median (min–max) over runs). ` +
      'Lower is better; "× ws" < 1 is faster than ws. JS busy, JS CPU and CPU (all threads) µs are per round trip.',
    '',
    table(['cell', 'client', 'p50 µs', '× ws', 'p99 µs', '× ws', 'p99.9 µs', '× ws', 'JS busy µs/rt', 'JS CPU µs/rt', 'CPU µs/rt', '× ws', 'other CPU'], rows),
  ].join('\n');
}

function pipelineTables() {
  const rows = [];
  for (const e of results.pipeline) {
    const ws = summarize(e.runs.ws || [], 'msgsPerSec');
    const wsJs = summarize(e.runs.ws || [], 'jsUsPerMsg');
    for (const kind of CLIENTS) {
      const runs = e.runs[kind] || [];
      const m = summarize(runs, 'msgsPerSec');
      const js = summarize(runs, 'jsUsPerMsg');
      rows.push([
        `${e.tls ? 'TLS' : 'plain'} ${sizeName(e.size)} ×${e.inflight}`, LABEL[kind], range(m), `**${ratio(m, ws)}**`,
        range(summarize(runs, 'elu'), (x) => x.toFixed(2)), range(js), ratio(js, wsJs), range(summarize(runs, 'jsCpuUsPerMsg')),
        range(summarize(runs, 'cpuUsPerMsg')), ratio(summarize(runs, 'cpuUsPerMsg'), summarize(e.runs.ws || [], 'cpuUsPerMsg')),
        range(summarize(runs, 'serverCpu'), (x) => x.toFixed(2)), other(runs),
      ]);
    }
  }
  return [
    '### Pipelined echo, up to 1000 in flight',
    '',
    'The client keeps up to 1000 messages outstanding (a new send for each echo received); round trips per second over the window ' +
      '(each round trip is one send and one receive for the client). Higher is better. "server CPU" near 1.00 means the ws echo server, ' +
      'not the client, is the limit.',
    '',
    table(['cell', 'client', 'round trips/s', '× ws', 'ELU', 'JS busy µs/rt', '× ws', 'JS CPU µs/rt', 'CPU µs/rt', '× ws', 'server CPU', 'other CPU'], rows),
  ].join('\n');
}

function sendTables() {
  const rows = [];
  for (const e of results.send) {
    const ws = summarize(e.runs.ws || [], 'msgsPerSec');
    const wsJs = summarize(e.runs.ws || [], 'jsUsPerMsg');
    for (const kind of CLIENTS) {
      const runs = e.runs[kind] || [];
      const m = summarize(runs, 'msgsPerSec');
      const js = summarize(runs, 'jsUsPerMsg');
      rows.push([
        `plain ${sizeName(e.size)}`, LABEL[kind], range(m), range(summarize(runs, 'MBps')), `**${ratio(m, ws)}**`,
        range(summarize(runs, 'elu'), (x) => x.toFixed(2)), range(js), ratio(js, wsJs), range(summarize(runs, 'jsCpuUsPerMsg')),
        range(summarize(runs, 'cpuUsPerMsg')), ratio(summarize(runs, 'cpuUsPerMsg'), summarize(e.runs.ws || [], 'cpuUsPerMsg')),
        range(summarize(runs, 'serverCpu'), (x) => x.toFixed(2)), other(runs),
      ]);
    }
  }
  return [
    '### Send throughput',
    '',
    'The client sends binary messages as fast as its own backpressure allows (pause above 1 MiB buffered: this library ' +
      'waits for `drain`, ws for a send callback, undici polls `bufferedAmount` every ms); a message counts once it has left ' +
      'the client\'s buffers (submitted − bufferedAmount). The ws server counts and drops them. Higher is better.',
    '',
    table(['cell', 'client', 'msg/s', 'MB/s', '× ws', 'ELU', 'JS busy µs/msg', '× ws', 'JS CPU µs/msg', 'CPU µs/msg', '× ws', 'server CPU', 'other CPU'], rows),
  ].join('\n');
}

function idleTables() {
  const rows = [];
  const notes = [];
  for (const e of results.idle) {
    const ws = e.runs.ws || [];
    for (const kind of CLIENTS) {
      const runs = e.runs[kind] || [];
      const ok = runs.filter((r) => !r.error && r.opened === e.connections && !r.lostAfterOpen);
      const per = summarize(runs, 'rssPerConnKB');
      const open = summarize(runs, 'openMs');
      const held = runs.map((r) => (r.error ? 'error' : `${r.opened}/${r.held ? r.held.serverConnections : '?'}`)).join(', ');
      rows.push([
        `${e.connections}`, LABEL[kind], `${ok.length}/${runs.length}`, held, range(open), ratio(open, summarize(ws, 'openMs')),
        range(per, kb), `**${ratio(per, summarize(ws, 'rssPerConnKB'))}**`, range(summarize(runs, 'heapPerConnKB'), kb),
        range(summarize(runs, 'externalPerConnKB'), kb), range(summarize(runs, 'holdCpu'), (x) => x.toFixed(3)), other(runs),
      ]);
      for (const r of runs) {
        if (r.error) notes.push(`- ${e.connections} × ${LABEL[kind]}: ${r.error}`);
        else if (r.failed || r.lostAfterOpen) notes.push(`- ${e.connections} × ${LABEL[kind]}: ${r.failed} failed to open, ${r.lostAfterOpen} lost after open; first error: ${r.firstError}`);
      }
    }
    for (const n of e.notes) notes.push(`- ${n}`);
  }
  const lim = fdLimits();
  return [
    '### Idle connections from one process',
    '',
    'N connections opened from one client process (at most 100 handshakes at a time), then held idle for 2 s. ' +
      '"open ms": from the first connect() to the last open. RSS/conn = (RSS after opening and two GCs − RSS before the first ' +
      'connection, library loaded) / N; it includes fixed costs the first connection causes (this library: the lws context). ' +
      '"held" = connections open in the client / connections the server counted, per run. "idle CPU": client process CPU ' +
      '(cores, all threads) during the 2 s hold, nothing being sent. Lower is better for memory, time and CPU.',
    '',
    `fd limit of the run: soft ${lim ? lim.soft : '?'}, hard ${lim ? lim.hard : '?'} (Node raises the soft limit to the hard one at start-up).`,
    '',
    table(['N', 'client', 'runs ok', 'held (client/server)', 'open ms', '× ws', 'RSS KB/conn', '× ws', 'JS heap KB/conn', 'external KB/conn', 'idle CPU', 'other CPU'], rows),
    ...(notes.length ? ['', ...notes] : []),
  ].join('\n');
}

function reconnectTables() {
  const rows = [];
  for (const e of results.reconnect) {
    const rs = e.restarts.filter((r) => r.recoveryMs != null).map((r) => ({ ...r }));
    const s = summarize(rs, 'recoveryMs');
    const d = summarize(rs, 'disconnectDetectMs');
    const a = summarize(rs, 'attempts');
    const failed = e.restarts.length - rs.length;
    rows.push([
      `[${e.backoffMs}]`, `${rs.length}/${e.restarts.length}`, range(s), s ? fmtNum(Math.max(...rs.map((r) => r.recoveryMs))) : '–',
      range(d), range(a), failed ? `${failed} restarts without recovery` : '',
    ]);
  }
  return [
    '### Reconnect recovery (this library only)',
    '',
    `A ws server sends one message on every new connection. The server process is killed (SIGKILL), stays down a random ` +
      `0.5–1.5 s, and is started again on the same ports, ${RESTARTS} times per run, ${REPS} runs per setting; ` +
      '`reconnect: { backoffMs, jitterPercent: 0 }` (lws takes 0 as 1 %). "recovery" = time from the new server\'s `listen()` ' +
      'callback to the client\'s first message on the new connection (both clocks are the machine\'s, via ' +
      '`performance.timeOrigin + performance.now()`). Median (min–max) over all restarts. With a constant backoff B, ' +
      'the restart lands at a random point of the retry cycle, so the expectation is about B/2 plus one connect.',
    '',
    table(['backoffMs', 'restarts ok', 'recovery ms', 'worst', 'loss noticed ms', 'attempts while down', 'notes'], rows),
  ].join('\n');
}

function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = (/model name\s*:\s*(.*)/.exec(cpuinfo) || [])[1] || os.cpus()[0]?.model;
  const ver = (p) => {
    try {
      return require(`${p}/package.json`).version;
    } catch {
      return '?';
    }
  };
  let lws = '?';
  try {
    lws = execFileSync(process.execPath, ['-p', "require(process.argv[1]).lwsVersion", path.join(__dirname, '..', 'dist', 'cjs', 'index.js')], {
      encoding: 'utf8',
      timeout: 15000,
    }).trim();
  } catch (e) {
    lws = `unavailable (${e.message.split('\n')[0]})`;
  }
  let nproc = os.cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // os.cpus() then
  }
  let commit = '?';
  try {
    const root = path.join(__dirname, '..');
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', timeout: 5000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib', 'native', 'dist'], { cwd: root, encoding: 'utf8', timeout: 5000 }).trim();
    if (dirty) commit += ' (lib/native modified)';
  } catch {
    // not a checkout
  }
  return {
    commit,
    nproc,
    cpu: model,
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    node: process.version,
    lws,
    ws: ver('ws'),
    bufferutil: ver('bufferutil'),
    utf8validate: ver('utf-8-validate'),
    undici: ver('undici'),
    openssl: process.versions.openssl,
  };
}

function syscallTables() {
  const rows = [];
  for (const row of results.syscalls) {
    for (const kind of CLIENTS) {
      const k = row.kinds[kind];
      if (!k) continue;
      const f = (g) => (k[g] == null ? '–' : fmtNum(k[g]));
      rows.push(k.error ? [row.label, LABEL[kind], `failed: ${k.error}`, '', '', '', '', ''] : [row.label, LABEL[kind], f('all'), f('reads'), f('writes'), f('waits'), f('futex'), f('switches')]);
    }
  }
  return [
    '### System calls per message',
    '',
    'One extra run per client and cell with `perf stat` counting the client process\'s system calls (all threads) during the ' +
      'measured window; per message = calls per second / messages (round trips for echo) per second of that run. reads = ' +
      'read/readv/recvfrom/recvmsg; writes = write/writev/sendto/sendmsg; waits = poll/ppoll/epoll_wait/epoll_pwait(2); ' +
      'switches = context switches. Lower is better.',
    '',
    table(['cell', 'client', 'syscalls/msg', 'reads', 'writes', 'waits', 'futex', 'context switches'], rows),
  ].join('\n');
}

/** Ratios to ws for the receive cells, the issue's targets, and the other workloads in a few lines. */
function headline() {
  const lines = [];
  const rat = (e, kind, key, ref = 'ws') => (e ? ratio(summarize(e.runs[kind] || [], key), summarize(e.runs[ref] || [], key)) : '–');
  const cols = [
    [true, 16, '16 B'],
    [true, 128, '128 B'],
    [true, 1024, '1 KiB'],
    [true, 65536, '64 KiB'],
    [false, 128, 'text 128 B'],
  ];
  const rows = [];
  for (const tls of [false, true]) {
    const cells = cols.map(([binary, size]) => results.recv.find((e) => e.tls === tls && e.binary === binary && e.size === size));
    if (!cells.some(Boolean)) continue;
    const t = tls ? 'TLS' : 'plain';
    rows.push([`${t}: msg/s × ws`, ...cells.map((e) => `**${rat(e, 'nlws', 'msgsPerSec')}**`)]);
    rows.push([`${t}: CPU µs/msg × ws (all threads)`, ...cells.map((e) => rat(e, 'nlws', 'cpuUsPerMsg'))]);
    rows.push([`${t}: JS-thread CPU µs/msg × ws`, ...cells.map((e) => rat(e, 'nlws', 'jsCpuUsPerMsg'))]);
  }
  if (rows.length) {
    lines.push('Receive, this library / ws 8 in the same run (medians):', '');
    lines.push(table(['receive', ...cols.map((c) => c[2])], rows), '');
  }
  const p64 = results.recv.find((e) => !e.tls && e.binary && e.size === 65536);
  if (p64) lines.push(`- Receive, plain 64 KiB: msg/s × the node:net floor = **${rat(p64, 'nlws', 'msgsPerSec', 'raw')}** (ws ${rat(p64, 'ws', 'msgsPerSec', 'raw')}).`);
  for (const ep of results.echo) {
    lines.push(`- Echo 64 B, one in flight (${ep.tls ? 'TLS' : 'plain'}): p50 × ws = **${rat(ep, 'nlws', 'p50')}**, p99 × ws = **${rat(ep, 'nlws', 'p99')}**, ` +
      `p99.9 × ws = ${rat(ep, 'nlws', 'p999')}; CPU per round trip × ws = ${rat(ep, 'nlws', 'cpuUsPerMsg')}.`);
  }
  const pp = results.pipeline[0];
  if (pp) lines.push(`- Pipelined echo (1000 in flight): round trips/s × ws = **${rat(pp, 'nlws', 'msgsPerSec')}**; CPU per round trip × ws = ${rat(pp, 'nlws', 'cpuUsPerMsg')}.`);
  for (const e of results.send) {
    lines.push(`- Send, plain ${sizeName(e.size)}: msg/s × ws = **${rat(e, 'nlws', 'msgsPerSec')}**; CPU per message × ws = ${rat(e, 'nlws', 'cpuUsPerMsg')}.`);
  }
  for (const e of results.idle) {
    const runs = e.runs.nlws || [];
    const held = runs.filter((r) => !r.error && r.opened === e.connections && !r.lostAfterOpen).length;
    lines.push(`- ${e.connections} idle connections: RSS per connection × ws = **${rat(e, 'nlws', 'rssPerConnKB')}**, ` +
      `time to open all × ws = **${rat(e, 'nlws', 'openMs')}**; held by this library in ${held}/${runs.length} runs.`);
  }
  for (const e of results.reconnect) {
    const s = summarize(e.restarts.filter((r) => r.recoveryMs != null), 'recoveryMs');
    if (s) lines.push(`- Reconnect with backoffMs [${e.backoffMs}]: first message ${fmtNum(s.med)} ms (median; ${fmtNum(s.min)}–${fmtNum(s.max)}) after the server restart.`);
  }
  return lines;
}

function modeSection(m) {
  results = run.modes[m];
  const parts = [`## ${MODE_TITLE[m]}`, '', ...headline(), ''];
  if (results.recv.length) parts.push(recvTables(), '');
  if (results.echo.length) parts.push(echoTables(), '');
  if (results.pipeline.length) parts.push(pipelineTables(), '');
  if (results.send.length) parts.push(sendTables(), '');
  if (results.syscalls.length) parts.push(syscallTables(), '');
  if (results.idle.length) parts.push(idleTables(), '');
  if (results.reconnect.length) parts.push(reconnectTables(), '');
  return parts;
}

function writeReport(final) {
  const m = run.meta;
  const current = results;
  const parts = [
    '# Benchmark results',
    '',
    `Generated by \`npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}\` (bench/run.js) on ${m.date}` +
      `${final ? `, ${((Date.now() - m.startMs) / 1000).toFixed(0)} s in all` : ' (partial: the run is still going or was interrupted)'}. ` +
      `${QUICK ? 'Quick' : 'Full'} run, modes: ${MODES.join(', ')}; ${REPS} repetitions per cell, each in a fresh client process; ` +
      'values are median (min–max) over the repetitions; "× ws" ratios are computed within this run and mode (ws = 1.00). ' +
      'How each figure is measured: bench/NOTES.md.',
    '',
    `Library: commit ${m.machine.commit}, addon as built in build/ or prebuilds/ (node-gyp-build's choice). ` +
      `Machine: ${m.machine.nproc} CPUs (nproc), ${m.machine.cpu}, ${m.machine.memGiB} GiB, Linux ${m.machine.kernel}. ` +
      `Node ${m.machine.node} (OpenSSL ${m.machine.openssl}); libwebsockets ${m.machine.lws}; ws ${m.machine.ws} with ` +
      `bufferutil ${m.machine.bufferutil} and utf-8-validate ${m.machine.utf8validate}; undici ${m.machine.undici}. ` +
      `Server: one ws ${m.machine.ws} process on loopback, permessage-deflate off everywhere; stream cells write ` +
      `${SERVER_SEND === 'frames' ? 'pre-framed messages to the socket' : 'through ws.send()'}. TLS: the server's choice, ${m.cipher || 'see runs'}. ` +
      `System calls: ${PERF_EVENTS ? 'counted with perf in one extra run per client and cell' : 'not counted (perf unavailable or --no-syscalls)'}.`,
    '',
    `Other programs on the machine: before each run the suite waits for it to be quiet (< ${QUIET_MAX} cores busy; ` +
      `waited ${(contention.waitedMs / 1000).toFixed(0)} s in all, within a budget of ${QUIET_BUDGET_MS / 1000} s), and a run during which other programs used more than ` +
      `${FOREIGN_MAX} cores is repeated (at most twice): ${contention.retried} repeated, ${contention.stillBusy} kept while still ` +
      `disturbed. Tables show "other CPU": the largest such load (cores) during the runs of a cell. Load average at the start: ${m.loadavg}; at the end: ${final ? os.loadavg().map((x) => x.toFixed(2)).join(' ') : '(running)'}.`,
    '',
  ];
  for (const md of MODES) if (run.modes[md]) parts.push(...modeSection(md));
  results = current;
  parts.push('## Failures', '');
  if (!run.failures.length) parts.push('None: every client process returned a result.');
  for (const f of run.failures) {
    parts.push(`- ${f.mode} ${f.group} ${JSON.stringify(f.cell)} ${f.kind}: ${f.error}${f.stderr ? `\n  stderr: \`${f.stderr.replace(/\s+/g, ' ').slice(0, 600)}\`` : ''}`);
  }
  parts.push('');
  fs.writeFileSync(OUT, parts.join('\n'));
  const outDir = path.join(__dirname, 'out');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `results-${QUICK ? 'quick' : 'full'}.json`), JSON.stringify(run, null, 1));
}

// ------------------------------------------------------------------ main
async function main() {
  run.meta = {
    date: new Date().toISOString(), startMs: Date.now(), argv, quick: QUICK, reps: REPS, modes: MODES, timing: T, machine: machine(),
    loadavg: os.loadavg().map((x) => x.toFixed(2)).join(' '),
  };
  PERF_EVENTS = flag('--no-syscalls') ? null : probePerf();
  certs = makeCerts();
  progress(`bench: ${QUICK ? 'quick' : 'full'} run, modes ${MODES.join(', ')}, ${REPS} reps, workloads ${WORKLOADS.join(', ')}`);
  progress(`machine: ${JSON.stringify(run.meta.machine)}; system calls: ${PERF_EVENTS ? PERF_EVENTS.length + ' perf events' : 'not counted'}`);
  const steps = { recv: recvWorkload, echo: echoWorkload, pipeline: pipelineWorkload, send: sendWorkload, idle: idleWorkload };
  for (const md of MODES) {
    mode = md;
    results = run.modes[md] = emptyResults();
    progress(`== mode ${md}`);
    const needServer = WORKLOADS.some((w) => w !== 'reconnect');
    const server = needServer ? await Server.start() : null;
    for (const w of WORKLOADS) {
      const t0 = Date.now();
      if (w === 'reconnect') await reconnectWorkload();
      else await steps[w](server);
      if (server) {
        const r = await server.cmd({ cmd: 'report' });
        if (r.cipher) run.meta.cipher = r.cipher;
      }
      progress(`-- ${md} ${w} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      writeReport(false);
    }
    if (server) await server.kill();
  }
  writeReport(true);
  progress(`wrote ${path.relative(process.cwd(), OUT)} in ${((Date.now() - run.meta.startMs) / 1000).toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
