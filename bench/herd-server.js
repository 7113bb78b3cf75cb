'use strict';
// The server of bench/herd.js: a ws server on 127.0.0.1:<port> (0: any) in
// a process of its own, so a restart is a real one (SIGKILL: every
// connection drops without a Close frame). Prints "listening <port>". A
// "drop" line on stdin destroys every connection and keeps listening (a
// mass drop without a restart); it answers "dropped <n>".
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] ?? 0);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, backlog: 4096 });
wss.on('error', (e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
wss.on('listening', () => process.stdout.write(`listening ${wss.address().port}\n`));
wss.on('connection', (ws) => ws.on('error', () => undefined));
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  if (!d.includes('drop')) return;
  let n = 0;
  for (const ws of wss.clients) {
    ws.terminate();
    n++;
  }
  process.stdout.write(`dropped ${n}\n`);
});
process.stdin.on('end', () => process.exit(0));
