#!/usr/bin/env node
// The main job on a fresh machine: an embedded feed server and a client of
// this library talking to it, no outside service needed.
//   npm run demo                  (embedded server)
//   npm run demo -- --url wss://… (any server that echoes)
'use strict';
const { parseArgs } = require('node:util');
const path = require('node:path');

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    seconds: { type: 'string', default: '5' },
  },
});
const { connect, lwsVersion } = require(path.join(__dirname, '..', 'dist', 'cjs', 'index.js'));

async function embeddedServer() {
  const { WebSocketServer } = require('ws');
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
  await new Promise((resolve) => wss.once('listening', resolve));
  wss.on('connection', (ws) => {
    let seq = 0;
    // A feed: sequence-numbered messages at a steady rate, and an echo.
    const timer = setInterval(() => ws.send(JSON.stringify({ seq: ++seq, t: Date.now() })), 20);
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', () => clearInterval(timer));
  });
  return { url: `ws://127.0.0.1:${wss.address().port}/feed`, close: () => new Promise((r) => wss.close(r)) };
}

async function main() {
  const server = values.url ? null : await embeddedServer();
  const url = values.url ?? server.url;
  const seconds = Math.max(1, Number(values.seconds) || 5);
  console.log(`node-libwebsockets demo (libwebsockets ${lwsVersion})`);
  console.log(`connecting to ${url}${server ? ' (embedded feed server)' : ''}`);

  const client = connect(url);
  const started = Date.now();
  client.on('error', (err) => console.error(`error: ${err.code}: ${err.message}`));
  await client.opened;
  console.log(`open after ${Date.now() - started} ms; extensions: ${client.extensions || 'none'}`);

  let feed = 0;
  let lastSeq = 0;
  let gaps = 0;
  const pending = new Map();
  const rtts = [];
  client.on('message', (data) => {
    const text = typeof data === 'string' ? data : data.toString();
    if (text.startsWith('echo:')) {
      const sent = pending.get(text);
      if (sent !== undefined) {
        rtts.push(Number(process.hrtime.bigint() - sent) / 1e6);
        pending.delete(text);
      }
      return;
    }
    try {
      const m = JSON.parse(text);
      if (typeof m.seq === 'number') {
        if (lastSeq && m.seq !== lastSeq + 1) gaps++;
        lastSeq = m.seq;
        feed++;
      }
    } catch {
      // not a feed message
    }
  });

  // Echo round trips while the feed runs; the JS thread is also blocked on
  // purpose for 300 ms per second: the native thread keeps the socket served.
  let n = 0;
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const msg = `echo:${n++}`;
    pending.set(msg, process.hrtime.bigint());
    client.send(msg);
    await new Promise((r) => setTimeout(r, 100));
    if (n % 10 === 0) {
      const blockUntil = Date.now() + 300;
      while (Date.now() < blockUntil);
      process.stdout.write(`  ${Math.round((Date.now() - started) / 1000)} s: ${feed} feed messages, ${rtts.length} echoes\n`);
    }
  }
  await client.close(1000, 'demo done');
  rtts.sort((a, b) => a - b);
  const p = (q) => (rtts.length ? rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))].toFixed(2) : 'n/a');
  console.log('');
  console.log(`feed messages received: ${feed}${server ? `, sequence gaps: ${gaps}` : ''}`);
  console.log(`echo round trips: ${rtts.length} (p50 ${p(0.5)} ms, p99 ${p(0.99)} ms)`);
  console.log(`closed cleanly: code 1000`);
  if (server) await server.close();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
