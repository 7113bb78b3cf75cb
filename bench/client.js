'use strict';
// One measurement in a clean process, forked by bench/run.js:
//   node bench/client.js <kind> <workload> <size> <tls> '<json config>'
// kind:     nlws (this library) | ws (ws 8 + bufferutil) | undici (Node's WebSocket) | raw (node:net floor)
// workload: recv-binary | recv-text | echo | pipeline | send | idle | reconnect
// size:     payload bytes; for idle, the number of connections
// tls:      0 | 1
// The result goes back over IPC as { type: 'result', ... }; then the process exits.
const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const { performance } = require('node:perf_hooks');

const [kind, workload, sizeArg, tlsArg, cfgArg] = process.argv.slice(2);
const size = Number(sizeArg);
const useTls = tlsArg === '1';
const cfg = JSON.parse(cfgArg || '{}');
const ca = useTls ? fs.readFileSync(cfg.ca, 'utf8') : undefined;
const host = '127.0.0.1';
const epochNow = () => performance.timeOrigin + performance.now();

// Never outlive the orchestrator, never run unbounded.
process.on('disconnect', () => process.exit(0));
const hardLimit = setTimeout(() => fail(`timed out after ${cfg.timeoutMs} ms`), cfg.timeoutMs || 60000);
hardLimit.unref();

let reported = false;
// stay: keep the process (and its connections) until the orchestrator says exit.
function report(result, stay = false) {
  if (reported) return;
  reported = true;
  const ru = process.resourceUsage();
  const msg = { type: 'result', kind, workload, size, tls: useTls, maxRssMB: ru.maxRSS / 1024, totalCpuMs: (ru.userCPUTime + ru.systemCPUTime) / 1000, ...result };
  if (batchStats) msg.batches = { ...batchStats };
  if (stay) {
    process.send(msg);
    process.on('message', (m) => m && m.cmd === 'exit' && process.exit(0));
    return;
  }
  process.send(msg, () => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}

// Diagnostic for this library's receive cells: how many events and shared
// chunks each JS call (one batch through the thread-safe function) carried.
// It wraps the addon's init() so the batch handler is counted on its way in;
// nothing else of the library is touched.
let batchStats = null;
if (kind === 'nlws' && workload.startsWith('recv')) {
  const Module = require('node:module');
  const load0 = Module._load;
  batchStats = { calls: 0, events: 0, chunks: 0 };
  Module._load = function (request, ...rest) {
    const r = load0.call(this, request, ...rest);
    if (request !== 'node-gyp-build') return r;
    return (dir) => {
      const b = r(dir);
      const w = {};
      for (const k of Object.getOwnPropertyNames(b)) w[k] = typeof b[k] === 'function' ? b[k].bind(b) : b[k];
      w.init = (onBatch) =>
        b.init((chunks, index) => {
          batchStats.calls++;
          batchStats.chunks += chunks.length;
          batchStats.events += index.length / 6;
          onBatch(chunks, index);
        });
      return w;
    };
  };
}
function fail(error) {
  if (reported) return;
  reported = true;
  process.send({ type: 'result', kind, workload, size, tls: useTls, error: String(error) }, () => process.exit(1));
  setTimeout(() => process.exit(1), 2000).unref();
}
process.on('uncaughtException', (e) => fail(`uncaught: ${e && e.stack}`));
process.on('unhandledRejection', (e) => fail(`unhandled rejection: ${e && e.stack}`));

// ---------------------------------------------------------------- adapters
// Each adapter opens one connection and calls h.open(), h.message(len),
// h.close(code), h.error(err). message() gets the payload length after the
// message is in its usual JS form: Buffer/ArrayBuffer for binary, string for
// text (ws gives text as a Buffer: it is decoded with toString(), as an
// application would).
let nlws;
let WsClient;
let Undici;
let undiciDispatcher;
function load() {
  if (kind === 'nlws') nlws = require('../dist/cjs/index.js');
  else if (kind === 'ws') WsClient = require('ws');
  else if (kind === 'undici') {
    Undici = require('undici');
    if (useTls) undiciDispatcher = new Undici.Agent({ connect: { ca } });
  }
}

function wsUrl() {
  return useTls ? `wss://${host}:${cfg.ports.wss}/` : `ws://${host}:${cfg.ports.ws}/`;
}

function openConnection(h, extra = {}) {
  const url = wsUrl();
  if (kind === 'nlws') {
    const c = nlws.connect(url, {
      reconnect: extra.reconnect || false,
      heartbeat: false,
      perMessageDeflate: false,
      ...(ca ? { ca } : {}),
    });
    c.on('open', (info) => h.open(info));
    c.on('message', (d) => h.message(d.length));
    c.on('close', (code) => h.close(code));
    c.on('error', (e) => h.error(e));
    if (extra.events) for (const [ev, fn] of Object.entries(extra.events)) c.on(ev, fn);
    let draining = null;
    c.on('drain', () => {
      const fn = draining;
      draining = null;
      if (fn) fn();
    });
    return {
      send: (d) => c.send(d),
      buffered: () => c.bufferedAmount,
      // send() returned false: wait for 'drain' (lowWaterMark).
      whenWritable: (fn) => {
        draining = fn;
      },
      close: () => c.close(),
    };
  }
  if (kind === 'ws') {
    const ws = new WsClient(url, { perMessageDeflate: false, ...(ca ? { ca } : {}) });
    ws.on('open', () => h.open());
    ws.on('message', (d, isBinary) => h.message(isBinary ? d.length : d.toString().length));
    ws.on('close', (code) => h.close(code));
    ws.on('error', (e) => h.error(e));
    const hwm = cfg.hwm || 1 << 20;
    let last = null;
    const written = () => {
      const f = last;
      last = null;
      if (f) f();
    };
    return {
      // At or above the mark, the message goes with a send callback, which
      // runs once it (and so everything before it) is written to the socket.
      send: (d) => {
        if (ws.bufferedAmount < hwm) {
          ws.send(d);
          return true;
        }
        ws.send(d, written);
        return false;
      },
      buffered: () => ws.bufferedAmount,
      whenWritable: (fn) => {
        last = fn;
      },
      close: () => ws.close(),
    };
  }
  if (kind === 'undici') {
    const ws = new Undici.WebSocket(url, undiciDispatcher ? { dispatcher: undiciDispatcher } : undefined);
    ws.binaryType = 'arraybuffer'; // the default 'blob' would be much slower
    ws.onopen = () => h.open();
    ws.onmessage = (e) => {
      const d = e.data;
      h.message(typeof d === 'string' ? d.length : d.byteLength);
    };
    ws.onclose = (e) => h.close(e.code);
    ws.onerror = (e) => h.error(e.error || new Error(e.message || 'error'));
    return {
      send: (d) => {
        ws.send(d);
        return ws.bufferedAmount < (cfg.hwm || 1 << 20);
      },
      buffered: () => ws.bufferedAmount,
      // No callback or drain event: poll bufferedAmount every millisecond.
      whenWritable: (fn) => {
        const poll = () => (ws.bufferedAmount < (cfg.hwm || 1 << 20) / 4 ? fn() : setTimeout(poll, 1));
        setTimeout(poll, 1);
      },
      close: () => ws.close(),
    };
  }
  throw new Error(`client kind ${kind} cannot run ${workload}`);
}

// ---------------------------------------------------------------- measuring
// CPU time per thread, from the scheduler's own accounting
// (/proc/self/task/<tid>/sched: se.sum_exec_runtime, ms with ns precision;
// the tick-based utime/stime of /proc/.../stat would be 10 ms coarse). The
// JS thread is the one whose tid is the pid; this library's service thread
// names itself (comm) "nlws-service". In one-core mode ELU (wall time the
// loop was busy) also counts time the JS thread was runnable but the CPU ran
// another thread: the CPU figures are the comparable ones there.
const SERVICE_COMM = 'nlws-service';
function threadCpu() {
  const out = { js: 0, service: 0 };
  let tids;
  try {
    tids = fs.readdirSync('/proc/self/task');
  } catch {
    return null;
  }
  for (const tid of tids) {
    const isJs = Number(tid) === process.pid;
    let comm = '';
    if (!isJs) {
      try {
        comm = fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      } catch {
        continue; // the thread is gone
      }
      if (comm !== SERVICE_COMM) continue;
    }
    try {
      const m = /se\.sum_exec_runtime\s*:\s*([\d.]+)/.exec(fs.readFileSync(`/proc/self/task/${tid}/sched`, 'utf8'));
      if (m) out[isJs ? 'js' : 'service'] += Number(m[1]);
    } catch {
      // the thread is gone
    }
  }
  return out;
}

let windowMarked = false;
// Tells the orchestrator where the measured window starts and ends (it may
// count this process's system calls meanwhile with perf; see run.js).
function markWindow(phase) {
  if (!cfg.markWindow) return;
  if (phase === 'start') windowMarked = true;
  else if (!windowMarked) return;
  process.send({ type: 'window', phase, at: performance.now() });
}

function snapshot(count, bytes) {
  return { t: performance.now(), elu: performance.eventLoopUtilization(), cpu: process.cpuUsage(), thr: threadCpu(), count, bytes };
}
function windowOf(s0, s1) {
  const wallMs = s1.t - s0.t;
  const elu = performance.eventLoopUtilization(s1.elu, s0.elu);
  const cpuUs = s1.cpu.user + s1.cpu.system - (s0.cpu.user + s0.cpu.system);
  const count = s1.count - s0.count;
  const bytes = s1.bytes - s0.bytes;
  return {
    wallMs,
    count,
    bytes,
    msgsPerSec: (count * 1000) / wallMs,
    MBps: bytes / 1e3 / wallMs, // 1 MB = 1e6 bytes
    elu: elu.utilization,
    jsMs: elu.active,
    jsUsPerMsg: (elu.active * 1000) / count, // ELU x wall / messages
    cpuUsPerMsg: cpuUs / count,
    // JS thread's and service thread's CPU per message (ms -> us)
    jsCpuUsPerMsg: s0.thr && s1.thr ? ((s1.thr.js - s0.thr.js) * 1000) / count : null,
    serviceCpuUsPerMsg: s0.thr && s1.thr && kind === 'nlws' ? ((s1.thr.service - s0.thr.service) * 1000) / count : null,
    cpuUtil: cpuUs / 1000 / wallMs, // process CPU, 1.0 = one core
    jsMsPerMB: elu.active / (bytes / 1e6),
    cpuMsPerMB: cpuUs / 1000 / (bytes / 1e6),
    rssMB: process.memoryUsage().rss / 1048576,
  };
}

function frameLength(n) {
  return n + (n < 126 ? 2 : n < 65536 ? 4 : 10);
}

// ---------------------------------------------------------------- workloads
function recv() {
  const binary = workload === 'recv-binary';
  let count = 0;
  let bytes = 0;
  let s0 = null;
  let finished = false;
  const expected = cfg.n;
  const finish = () => {
    if (finished) return;
    finished = true;
    const s1 = snapshot(count, bytes);
    markWindow('end');
    if (!s0) return fail(`stream ended before the warm-up was over (${count} messages)`);
    report({ binary, ...windowOf(s0, s1) });
  };
  const started = () => {
    setTimeout(() => {
      s0 = snapshot(count, bytes);
      markWindow('start');
      setTimeout(finish, cfg.windowMs);
    }, cfg.warmupMs);
  };
  if (kind === 'raw') {
    // The floor: same byte stream, no WebSocket parsing. Messages are counted
    // as whole frames received.
    const fl = frameLength(size);
    let raw = 0;
    const onData = (chunk) => {
      if (raw === 0) started();
      raw += chunk.length;
      count = Math.floor(raw / fl);
      bytes = count * size;
      if (count >= expected) finish();
    };
    const sock = useTls
      ? tls.connect({ host, port: cfg.ports.rawTls, ca })
      : net.connect({ host, port: cfg.ports.raw });
    sock.on('data', onData);
    sock.on('error', (e) => fail(e));
    sock.on('close', () => finished || fail(`raw socket closed after ${count} messages`));
    return;
  }
  load();
  openConnection({
    open() {},
    message(len) {
      if (count++ === 0) started();
      bytes += len;
      if (count >= expected) finish();
    },
    close(code) {
      if (!finished) fail(`closed (${code}) after ${count} messages`);
    },
    error(e) {
      if (!finished) fail(e && (e.code || e.message));
    },
  });
}

function echo() {
  load();
  const payload = Buffer.alloc(size, 7);
  const warm = cfg.warmupCount;
  const total = warm + cfg.count;
  const lat = new Float64Array(cfg.count);
  let i = 0;
  let sentAt = 0;
  let s0 = null;
  let done = false;
  const conn = openConnection({
    open() {
      sentAt = performance.now();
      conn.send(payload);
    },
    message() {
      const t = performance.now();
      if (i >= warm) lat[i - warm] = (t - sentAt) * 1000;
      i++;
      if (i === warm) {
        s0 = snapshot(0, 0);
        markWindow('start');
      }
      if (i >= total) {
        done = true;
        const s1 = snapshot(cfg.count, cfg.count * size);
        markWindow('end');
        const w = windowOf(s0, s1);
        lat.sort();
        const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
        report({
          p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: lat[lat.length - 1],
          mean: lat.reduce((a, b) => a + b, 0) / lat.length,
          roundTrips: cfg.count, elu: w.elu, jsUsPerMsg: w.jsUsPerMsg, cpuUsPerMsg: w.cpuUsPerMsg, rssMB: w.rssMB,
          jsCpuUsPerMsg: w.jsCpuUsPerMsg, serviceCpuUsPerMsg: w.serviceCpuUsPerMsg, msgsPerSec: w.msgsPerSec,
        });
        return;
      }
      sentAt = performance.now();
      conn.send(payload);
    },
    close(code) {
      if (!done) fail(`closed (${code}) after ${i} round trips`);
    },
    error(e) {
      if (!done) fail(e && (e.code || e.message));
    },
  });
}

function pipeline() {
  load();
  const payload = Buffer.alloc(size, 7);
  const inflight = cfg.inflight;
  let received = 0;
  let sent = 0;
  let s0 = null;
  let sending = true;
  let done = false;
  const conn = openConnection({
    open() {
      for (let k = 0; k < inflight; k++) {
        conn.send(payload);
        sent++;
      }
      setTimeout(() => {
        s0 = snapshot(received, received * size);
        markWindow('start');
        setTimeout(() => {
          done = true;
          sending = false;
          const s1 = snapshot(received, received * size);
          markWindow('end');
          report({ inflight, sent, ...windowOf(s0, s1) });
        }, cfg.windowMs);
      }, cfg.warmupMs);
    },
    message() {
      received++;
      if (sending) {
        conn.send(payload);
        sent++;
      }
    },
    close(code) {
      if (!done) fail(`closed (${code}) after ${received} echoes`);
    },
    error(e) {
      if (!done) fail(e && (e.code || e.message));
    },
  });
}

// Send throughput: as fast as the client's own backpressure allows; a
// message counts as sent once it has left the client's buffers
// (submitted bytes - bufferedAmount).
function send() {
  load();
  const payload = Buffer.alloc(size, 7);
  let submitted = 0;
  let s0 = null;
  let running = true;
  let done = false;
  let conn;
  const sentSnap = () => {
    const outBytes = submitted * size - conn.buffered();
    return snapshot(outBytes / size, outBytes);
  };
  const pump = () => {
    if (!running) return;
    for (let burst = 0; burst < 16384; burst++) {
      submitted++;
      if (!conn.send(payload)) {
        conn.whenWritable(pump);
        return;
      }
    }
    setImmediate(pump);
  };
  conn = openConnection({
    open() {
      pump();
      setTimeout(() => {
        s0 = sentSnap();
        markWindow('start');
        setTimeout(() => {
          done = true;
          running = false;
          const s1 = sentSnap();
          markWindow('end');
          report({ ...windowOf(s0, s1) });
        }, cfg.windowMs);
      }, cfg.warmupMs);
    },
    message() {},
    close(code) {
      if (!done) fail(`closed (${code}) after ${submitted} sends`);
    },
    error(e) {
      if (!done) fail(e && (e.code || e.message));
    },
  });
}

function fdLimit() {
  try {
    const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? { soft: m[1], hard: m[2] } : null;
  } catch {
    return null;
  }
}

// N idle connections from this process, at most cfg.concurrency handshakes at a time.
function idle() {
  load();
  const n = size;
  const gc = global.gc || (() => {});
  const limits = fdLimit();
  gc();
  gc();
  const base = process.memoryUsage();
  const t0 = performance.now();
  let started = 0;
  let opened = 0;
  let failed = 0;
  let lostAfterOpen = 0;
  let firstError = null;
  let openMs = null;
  const conns = [];
  const launch = () => {
    if (started >= n) return;
    started++;
    let isOpen = false;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      if (opened + failed === n) allSettled();
      else launch();
    };
    conns.push(
      openConnection({
        open() {
          isOpen = true;
          opened++;
          settle();
        },
        message() {},
        close(code) {
          if (isOpen) lostAfterOpen++;
          else {
            failed++;
            firstError ??= `closed ${code} before open`;
            settle();
          }
        },
        error(e) {
          firstError ??= String((e && (e.code || e.message)) || e);
        },
      }),
    );
  };
  const allSettled = () => {
    openMs = performance.now() - t0;
    const cpu0 = process.cpuUsage();
    const h0 = performance.now();
    setTimeout(() => {
      // CPU (cores, all threads) spent holding the idle connections, before the GCs below.
      const held = process.cpuUsage(cpu0);
      const holdCpu = (held.user + held.system) / 1000 / (performance.now() - h0);
      gc();
      gc();
      const m = process.memoryUsage();
      report({
        connections: n,
        opened,
        failed,
        lostAfterOpen,
        firstError,
        openMs,
        holdCpu,
        connsPerSec: (opened * 1000) / openMs,
        rssDeltaMB: (m.rss - base.rss) / 1048576,
        rssPerConnKB: (m.rss - base.rss) / 1024 / Math.max(1, opened),
        heapPerConnKB: (m.heapUsed - base.heapUsed) / 1024 / Math.max(1, opened),
        externalPerConnKB: (m.external - base.external) / 1024 / Math.max(1, opened),
        rssMB: m.rss / 1048576,
        baseRssMB: base.rss / 1048576,
        fdLimit: limits,
      }, true);
    }, cfg.settleMs || 1000);
  };
  for (let k = 0; k < Math.min(cfg.concurrency, n); k++) launch();
}

// Reconnect recovery (this library only): events go to the orchestrator,
// which restarts the server and computes the times.
function reconnect() {
  if (kind !== 'nlws') throw new Error('the reconnect workload is for nlws only');
  load();
  const tell = (type) => (info) => process.send({ type, at: epochNow(), info: info && typeof info === 'object' ? { ...info } : info });
  openConnection(
    {
      open: tell('open'),
      message: () => process.send({ type: 'message', at: epochNow() }),
      close: (code) => fail(`session closed (${code})`),
      error: () => {},
    },
    {
      reconnect: { backoffMs: cfg.backoffMs, jitterPercent: cfg.jitterPercent ?? 0, maxAttempts: 0 },
      events: { disconnect: tell('disconnect'), reconnecting: tell('reconnecting') },
    },
  );
  process.on('message', (m) => {
    if (m && m.cmd === 'exit') report({});
  });
}

const workloads = { 'recv-binary': recv, 'recv-text': recv, echo, pipeline, send, idle, reconnect };
if (!workloads[workload]) fail(`unknown workload ${workload}`);
else {
  try {
    workloads[workload]();
  } catch (e) {
    fail(e && e.stack);
  }
}
