'use strict';
// Soak server, forked by bench/soak.js (never run by hand): a ws
// WebSocketServer in its own process, so the soak process's file descriptors,
// threads and memory are the client's alone.
//
// Listens on 127.0.0.1 and, when the machine has it, on ::1 with the same port
// (`localhost` may resolve to either). Every connection is held until the
// client closes it, except that a text message "kill" makes the server destroy
// the TCP socket at once (no Close frame): the forced-reconnect cycle.
//
// With argv[2] = JSON { key, cert } (file paths) it serves wss instead.
//
// IPC: sends { port } once listening; answers { cmd: 'counts' } with
// { counts: { accepted, open, killed } }; exits when the parent goes away.
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const counts = { accepted: 0, open: 0, killed: 0 };
const tls = process.argv[2] ? JSON.parse(process.argv[2]) : null;
const credentials = tls ? { key: fs.readFileSync(tls.key), cert: fs.readFileSync(tls.cert) } : null;

wss.on('connection', (ws) => {
  counts.accepted++;
  counts.open++;
  ws.on('close', () => counts.open--);
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === 'kill') {
      counts.killed++;
      ws._socket.destroy();
    }
  });
});

function listen(host, port) {
  const answer = (req, res) => res.writeHead(426).end();
  const server = credentials ? https.createServer(credentials, answer) : http.createServer(answer);
  server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => resolve(server.address().port));
  });
}

async function main() {
  const port = await listen('127.0.0.1', 0);
  // ::1 is optional (no IPv6 on the machine, or the port taken there).
  await listen('::1', port).catch(() => undefined);
  process.send({ port });
}

process.on('message', (m) => {
  if (m && m.cmd === 'counts') process.send({ counts: { ...counts } });
});
process.on('disconnect', () => process.exit(0));
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
