'use strict';
// Benchmark server, run as a forked child of bench/run.js (never by hand).
//
// Listens on loopback:
//   ws      plain WebSocket (ws WebSocketServer, permessage-deflate off)
//   wss     the same over TLS
//   raw     plain TCP: writes the same pre-framed WebSocket bytes as the
//           stream mode, with no handshake (the node:net reference floor)
//   rawTls  the same over TLS
//
// Commands come over the IPC channel ({ id, cmd, ... }; each is answered with
// { id, ok, ... }):
//   mode   { mode: 'stream', n, size, binary, send: 'frames' | 'ws' }
//          every new connection gets n messages of `size` bytes as fast as
//          the connection takes them (respecting backpressure), then nothing
//          { mode: 'echo' }   every message is sent back as it came
//          { mode: 'sink' }   messages are counted and dropped
//          { mode: 'idle' }   connections are held, nothing is sent
//          { mode: 'hello' }  one text message on open (reconnect cell)
//   report current counters: cpu, rss, connections, last TLS cipher, sink counts
//   exit
// The initial mode and fixed ports (for a restart on the same ports) come in
// argv[2] as JSON.
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const net = require('node:net');
const tls = require('node:tls');
const { performance } = require('node:perf_hooks');
const { WebSocketServer } = require('ws');

const cfg = JSON.parse(process.argv[2] || '{}');
const key = fs.readFileSync(cfg.key);
const cert = fs.readFileSync(cfg.cert);
const STREAM_MAX_MS = 60000; // no stream runs longer than this, whatever n says
const WS_HWM = 1 << 20; // ws send mode: pause above this bufferedAmount

let mode = cfg.mode || { mode: 'idle' };
let connections = 0;
let lastCipher = null;
const sink = { messages: 0, bytes: 0 };
const now = () => performance.timeOrigin + performance.now();

// process exits with the parent: never outlive the orchestrator.
process.on('disconnect', () => process.exit(0));

/** One WebSocket frame (server frames are not masked). */
function frameHeader(size, binary) {
  const op = binary ? 0x82 : 0x81;
  if (size < 126) return Buffer.from([op, size]);
  if (size < 65536) {
    const h = Buffer.alloc(4);
    h[0] = op;
    h[1] = 126;
    h.writeUInt16BE(size, 2);
    return h;
  }
  const h = Buffer.alloc(10);
  h[0] = op;
  h[1] = 127;
  h.writeBigUInt64BE(BigInt(size), 2);
  return h;
}

function payload(size, binary) {
  const p = Buffer.alloc(size);
  for (let i = 0; i < size; i++) p[i] = binary ? (i * 31 + 7) & 0xff : 0x61 + (i % 26);
  return p;
}

/** A write unit of whole frames, about 64 KiB (at least one frame). */
const chunkCache = new Map();
function framedChunk(size, binary) {
  const k = `${size}/${binary}`;
  let c = chunkCache.get(k);
  if (!c) {
    const frame = Buffer.concat([frameHeader(size, binary), payload(size, binary)]);
    const perChunk = Math.max(1, Math.floor(65536 / frame.length));
    c = { buf: Buffer.concat(Array(perChunk).fill(frame)), frameLen: frame.length, perChunk };
    chunkCache.set(k, c);
  }
  return c;
}

/**
 * Writes n pre-framed messages to a socket (the WebSocket's own socket, or a
 * raw one), waiting for 'drain' whenever write() says the buffer is full.
 */
function streamFrames(socket, m, isOpen) {
  const { buf, frameLen, perChunk } = framedChunk(m.size, m.binary);
  let left = m.n;
  const deadline = Date.now() + STREAM_MAX_MS;
  const pump = () => {
    while (left > 0 && isOpen()) {
      if (Date.now() > deadline) return;
      const k = Math.min(perChunk, left);
      left -= k;
      if (!socket.write(k === perChunk ? buf : buf.subarray(0, k * frameLen))) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

/** The same through ws.send(), pausing on bufferedAmount, resuming from a send callback. */
function streamWsSend(ws, m) {
  const data = m.binary ? payload(m.size, true) : payload(m.size, false).toString();
  const opts = { binary: m.binary };
  let left = m.n;
  const deadline = Date.now() + STREAM_MAX_MS;
  const pump = () => {
    let burst = 0;
    while (left > 0 && ws.readyState === 1 && burst < 8192) {
      left--;
      burst++;
      if (ws.bufferedAmount >= WS_HWM || left === 0) {
        ws.send(data, opts, (err) => {
          if (!err && Date.now() < deadline) pump();
        });
        return;
      }
      ws.send(data, opts);
    }
    if (left > 0 && ws.readyState === 1 && Date.now() < deadline) setImmediate(pump);
  };
  pump();
}

function onWsConnection(ws, req) {
  connections++;
  const sock = req.socket;
  if (sock.encrypted) {
    const c = sock.getCipher();
    lastCipher = `${sock.getProtocol()} ${c && c.name}`;
  }
  ws.on('close', () => connections--);
  ws.on('error', () => {});
  const m = mode;
  if (m.mode === 'stream') {
    if (m.send === 'ws') streamWsSend(ws, m);
    else streamFrames(ws._socket, m, () => ws.readyState === 1);
  } else if (m.mode === 'echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  } else if (m.mode === 'sink') {
    ws.on('message', (data) => {
      sink.messages++;
      sink.bytes += data.length;
    });
  } else if (m.mode === 'hello') {
    ws.send(`hello ${now()}`);
  }
}

function onRawConnection(sock) {
  connections++;
  if (sock.encrypted) {
    const c = sock.getCipher();
    lastCipher = `${sock.getProtocol()} ${c && c.name}`;
  }
  let open = true;
  sock.on('error', () => {});
  sock.on('close', () => {
    open = false;
    connections--;
  });
  sock.on('data', () => {}); // the client sends nothing; keep the stream flowing
  if (mode.mode === 'stream') streamFrames(sock, mode, () => open && !sock.destroyed);
}

function wsServer(httpServer) {
  const wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false, maxPayload: 128 * 1024 * 1024 });
  wss.on('connection', onWsConnection);
  wss.on('error', () => {});
  return wss;
}

const listen = (server, port) =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: port || 0, host: '127.0.0.1', backlog: 4096 }, () => resolve(server.address().port));
  });

async function main() {
  const ports = cfg.ports || {};
  const plain = http.createServer();
  const secure = https.createServer({ key, cert });
  wsServer(plain);
  wsServer(secure);
  const raw = net.createServer(onRawConnection);
  const rawTls = tls.createServer({ key, cert }, onRawConnection);
  for (const s of [plain, secure, raw, rawTls]) s.on('clientError', (e, sock) => sock.destroy());
  const bound = {
    ws: await listen(plain, ports.ws),
    wss: await listen(secure, ports.wss),
    raw: await listen(raw, ports.raw),
    rawTls: await listen(rawTls, ports.rawTls),
  };
  process.on('message', (msg) => {
    const reply = (extra) => process.send({ id: msg.id, ok: true, ...extra });
    switch (msg.cmd) {
      case 'mode':
        mode = msg.mode;
        sink.messages = 0;
        sink.bytes = 0;
        reply({});
        break;
      case 'report': {
        const cpu = process.cpuUsage();
        reply({ cpuUs: cpu.user + cpu.system, at: now(), rss: process.memoryUsage().rss, connections, cipher: lastCipher, sink: { ...sink } });
        break;
      }
      case 'exit':
        reply({});
        process.exit(0);
        break;
      default:
        process.send({ id: msg.id, ok: false, error: `unknown command ${msg.cmd}` });
    }
  });
  process.send({ type: 'listening', ports: bound, at: now() });
}

main().catch((e) => {
  process.send?.({ type: 'fatal', error: String(e && e.stack) });
  process.exit(1);
});
