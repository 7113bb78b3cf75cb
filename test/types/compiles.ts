// Must compile under every supported @types/node (test/types.test.ts):
// events, error codes, causes and states typed as documented.
import {
  connect,
  type Cause,
  type ErrorCode,
  type SessionState,
  type WebSocketError,
} from 'node-libwebsockets';

const c = connect('ws://127.0.0.1:1/', { signal: AbortSignal.timeout(1000), maxPayload: 0 });

c.on('open', (info) => {
  const down: number = info.downtimeMs;
  const again: boolean = info.reconnected;
  void down;
  void again;
});
c.on('message', (data, isBinary) => {
  const text: string = typeof data === 'string' ? data : data.toString('utf8');
  const binary: boolean = isBinary;
  void text;
  void binary;
});
c.once('close', (code: number, reason: string) => void [code, reason]);
c.on('error', (err: WebSocketError) => {
  switch (err.code) {
    case 'ECONNREFUSED':
      void [err.errno, err.syscall, err.address, err.port];
      break;
    case 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED':
    case 'ERR_UNEXPECTED_RESPONSE':
      void err.status;
      break;
    default: {
      const code: ErrorCode = err.code;
      void code;
    }
  }
});
c.on('disconnect', (d) => {
  const cause: Cause = d.cause;
  if (cause === 'heartbeat' || d.cause === 'stall') void cause;
});
c.off('reconnecting', (r) => void r.delayMs);
const state: SessionState = c.stats().state;
if (c.stats().state === 'reconnecting') void state;
const n: number | undefined = c.stats().disconnectsByCause.refused;
void n;
c.emit('drain');
void c.listenerCount('giveup');

// The ws-compatible class.
import { WebSocket } from 'node-libwebsockets';

const ws = new WebSocket('ws://127.0.0.1:1/', ['chat'], { headers: { 'X-A': ['1', '2'] }, perMessageDeflate: false });
ws.binaryType = 'arraybuffer';
ws.on('message', (data, isBinary) => void [data.toString(), isBinary]);
ws.on('close', (code: number, reason: Buffer) => void [code, reason.toString()]);
ws.on('unexpected-response', (_req, res) => void res.statusCode);
ws.on('upgrade', (res) => void res.headers);
ws.send('x', (err?: Error) => void err);
ws.send(Buffer.alloc(1), { binary: true }, () => undefined);
ws.ping(undefined, undefined, () => undefined);
ws.onmessage = (event) => void event.data;
ws.addEventListener('close', (event) => void event.wasClean);
if (ws.readyState === WebSocket.OPEN || ws.readyState === ws.CLOSED) ws.close(1000, 'bye');
void ws.session.stats().state;
ws.on('ping', (data: Buffer) => ws.pong(data));
c.on('ping', (data: Buffer) => c.pong(data));
