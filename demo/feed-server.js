'use strict';
// The demo's embedded feed server, in a child process of its own (so it
// keeps its timing while the client's JS thread is busy). It pushes
// sequence-numbered messages at a steady rate and, when told by the demo,
// misbehaves the way real servers do:
//   drop       terminate the connection
//   blackhole  keep the socket, send and answer nothing (no pongs)
//   stall      keep answering pings, stop the feed
//   refuse     answer upgrades with 503 + Retry-After for a while
//   expire     the current token stops being accepted (401 until refreshed)
// Reports its counters to the parent on request.
const http = require('node:http');
const { WebSocketServer } = require('ws');

const RATE_MS = Number(process.env.FEED_RATE_MS || 20);
let seq = 0; // one global sequence: every open connection gets each number
let acceptedToken = 'token-1';
let refuseUntil = 0;
const counters = { sent: 0, acks: 0, lastAck: 0, connections: 0, refused503: 0, refused401: 0 };
const live = new Set();

const server = http.createServer((_req, res) => res.writeHead(426).end());
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  if (Date.now() < refuseUntil) {
    counters.refused503++;
    socket.end(`HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${Math.ceil((refuseUntil - Date.now()) / 1000)}\r\nContent-Length: 0\r\n\r\n`);
    return;
  }
  if (req.headers.authorization !== `Bearer ${acceptedToken}`) {
    counters.refused401++;
    socket.end('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer error="invalid_token"\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    counters.connections++;
    const conn = { ws, feeding: true };
    live.add(conn);
    ws.on('message', (data) => {
      try {
        const m = JSON.parse(String(data));
        if (typeof m.ack === 'number') {
          counters.acks++;
          counters.lastAck = Math.max(counters.lastAck, m.ack);
        }
      } catch {
        // not an ack
      }
    });
    ws.on('close', () => live.delete(conn));
  });
});

const feed = setInterval(() => {
  seq++;
  const msg = JSON.stringify({ seq, t: Date.now() });
  for (const c of live) {
    if (c.feeding && c.ws.readyState === c.ws.OPEN) {
      c.ws.send(msg);
      counters.sent++;
    }
  }
}, RATE_MS);

function misbehave(what, ms) {
  const conns = [...live];
  switch (what) {
    case 'drop':
      for (const c of conns) c.ws.terminate();
      break;
    case 'blackhole':
      for (const c of conns) {
        c.feeding = false;
        c.ws._socket.pause();
      }
      break;
    case 'stall':
      for (const c of conns) c.feeding = false;
      break;
    case 'refuse':
      refuseUntil = Date.now() + ms;
      for (const c of conns) c.ws.terminate();
      break;
    case 'expire':
      acceptedToken = `token-${Number(acceptedToken.split('-')[1]) + 1}`;
      for (const c of conns) c.ws.terminate();
      break;
    default:
      break;
  }
}

process.on('message', (m) => {
  if (m.cmd === 'misbehave') misbehave(m.what, m.ms);
  else if (m.cmd === 'report') process.send({ report: { ...counters, seq } });
  else if (m.cmd === 'stop') {
    clearInterval(feed);
    for (const c of live) c.ws.terminate();
    server.close(() => process.exit(0));
  }
});

server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
