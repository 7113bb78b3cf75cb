/**
 * A WebSocket server whose faults the test controls, for reconnection tests:
 * ws's WebSocketServer over node:http on loopback, port 0.
 *
 *  - kill() drops every connection and stops listening; restart() listens
 *    again on the same port (the client sees refused connections meanwhile);
 *  - setUpgrade() decides each upgrade: accept, answer an HTTP status (401
 *    unless a header has an accepted value, 503 with Retry-After, ...), or
 *    never answer;
 *  - per connection: blackHole() (reads and answers nothing, not even pings),
 *    stall() (stops the feed; ws still answers pings), resetMidMessage()
 *    (half a frame, then a TCP reset), feed() (sequence-numbered messages);
 *  - every upgrade request is recorded with a timestamp, refused ones too.
 *
 * startTcpServer() is the raw counterpart: a net server that accepts TCP and
 * then never answers ('hang') or drops the socket at once ('destroy').
 *
 * Every timer is cleared and every socket destroyed by close().
 */
import { createServer as createHttpServer, STATUS_CODES, type IncomingMessage } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { AsyncQueue } from './queue.js';

const HOST = '127.0.0.1';
/** A feed never sends more than this many messages (a bound, not a limit tests reach). */
const MAX_FEED_MESSAGES = 100_000;

/** What the server does with one upgrade request. */
export type UpgradeAnswer = 'accept' | 'hang' | { status: number; headers?: Record<string, string> };
export type UpgradePolicy = UpgradeAnswer | ((req: IncomingMessage, index: number) => UpgradeAnswer);

/** One upgrade request, however it was answered. */
export interface Attempt {
  index: number;
  /** Date.now() when the request head arrived. */
  at: number;
  path: string;
  /** Lower-case names, as node:http gives them. */
  headers: IncomingMessage['headers'];
  outcome: 'accepted' | 'rejected' | 'hung';
  status?: number;
}

export interface FaultConnection {
  readonly index: number;
  readonly ws: WebSocket;
  readonly socket: Socket;
  readonly request: IncomingMessage;
  /** Send `seq` numbers (the server's counter, shared by all connections) every intervalMs. */
  feed(intervalMs: number): void;
  /** Stop sending data; ws keeps answering pings. */
  stall(): void;
  /** Go silent without closing: nothing is read (so no pong is sent), nothing is written. */
  blackHole(): void;
  /** Write a frame header and part of its payload, then reset the TCP connection. */
  resetMidMessage(): void;
  /** Resolves with the close code and reason ws reports (never rejects). */
  readonly closed: Promise<{ code: number; reason: string }>;
}

export interface FaultServerOptions {
  /** How upgrades are answered (default 'accept'); changeable with setUpgrade(). */
  upgrade?: UpgradePolicy;
  /** Let ws answer pings (default true). */
  autoPong?: boolean;
  /** Start a feed on every accepted connection, one message per this many ms. */
  feedIntervalMs?: number;
}

export interface FaultServer {
  readonly port: number;
  /** ws://127.0.0.1:port */
  readonly url: string;
  /** Every upgrade request so far, in order. */
  readonly attempts: readonly Attempt[];
  /** Every accepted connection so far, in order. */
  readonly connections: readonly FaultConnection[];
  /** The next upgrade request (already recorded in attempts). */
  nextAttempt(timeoutMs: number): Promise<Attempt>;
  /** The next accepted connection. */
  nextConnection(timeoutMs: number): Promise<FaultConnection>;
  setUpgrade(policy: UpgradePolicy): void;
  /** The next sequence number a feed will send. */
  readonly seq: number;
  /** Terminate every connection and stop listening (the port stays ours to restart()). */
  kill(): Promise<void>;
  /** Listen again on the same port. */
  restart(): Promise<void>;
  /** kill() for good: timers cleared, sockets destroyed, queues ended. Idempotent. */
  close(): Promise<void>;
}

/** 401 unless `header` has one of the accepted values. */
export function requireHeader(header: string, accepted: readonly string[]): UpgradePolicy {
  const name = header.toLowerCase();
  return (req) => {
    const value = req.headers[name];
    return typeof value === 'string' && accepted.includes(value) ? 'accept' : { status: 401 };
  };
}

/** 503 with Retry-After: seconds. */
export function unavailable(retryAfterSeconds: number): UpgradeAnswer {
  return { status: 503, headers: { 'Retry-After': String(retryAfterSeconds) } };
}

function listen(server: NetServer, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: HOST }, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
}

function stopListening(server: NetServer): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!server.listening) resolve();
    else server.close(() => resolve());
  });
}

export async function startFaultServer(options: FaultServerOptions = {}): Promise<FaultServer> {
  const http = createHttpServer();
  const wss = new WebSocketServer({ noServer: true, autoPong: options.autoPong ?? true, perMessageDeflate: false });
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const attempts: Attempt[] = [];
  const connections: FaultConnection[] = [];
  const attemptQueue = new AsyncQueue<Attempt>('fault server attempt');
  const connectionQueue = new AsyncQueue<FaultConnection>('fault server connection');
  let policy: UpgradePolicy = options.upgrade ?? 'accept';
  let seq = 1;
  let closed = false;

  http.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => {
      // Resets are what these tests are about; 'close' follows.
    });
    socket.on('close', () => sockets.delete(socket));
  });
  http.on('request', (_req, res) => {
    res.writeHead(426, { Connection: 'close' }).end();
  });

  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const index = attempts.length;
    const answer = typeof policy === 'function' ? policy(req, index) : policy;
    const attempt: Attempt = {
      index,
      at: Date.now(),
      path: req.url ?? '',
      headers: req.headers,
      outcome: answer === 'accept' ? 'accepted' : answer === 'hang' ? 'hung' : 'rejected',
    };
    if (typeof answer === 'object') attempt.status = answer.status;
    attempts.push(attempt);
    attemptQueue.push(attempt);
    if (answer === 'hang') return;
    if (typeof answer === 'object') {
      const lines = [`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Status'}`, 'Connection: close', 'Content-Length: 0'];
      for (const [name, value] of Object.entries(answer.headers ?? {})) lines.push(`${name}: ${value}`);
      socket.end(`${lines.join('\r\n')}\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accepted(ws, socket, req));
  });

  function accepted(ws: WebSocket, socket: Socket, request: IncomingMessage): void {
    let feedTimer: NodeJS.Timeout | undefined;
    const stopFeed = (): void => {
      if (feedTimer) {
        clearInterval(feedTimer);
        timers.delete(feedTimer);
        feedTimer = undefined;
      }
    };
    const closedPromise = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.once('close', (code, reason) => {
        stopFeed();
        resolve({ code, reason: reason.toString('utf8') });
      });
    });
    ws.on('error', () => {
      // The client going away mid-frame is expected here.
    });
    const conn: FaultConnection = {
      index: connections.length,
      ws,
      socket,
      request,
      closed: closedPromise,
      feed(intervalMs) {
        stopFeed();
        let sent = 0;
        feedTimer = setInterval(() => {
          if (ws.readyState !== ws.OPEN || ++sent > MAX_FEED_MESSAGES) {
            stopFeed();
            return;
          }
          ws.send(String(seq++));
        }, intervalMs);
        timers.add(feedTimer);
      },
      stall: stopFeed,
      blackHole() {
        stopFeed();
        ws.pause(); // the socket is not read: pings stay unanswered
      },
      resetMidMessage() {
        stopFeed();
        // A text frame announcing 200 bytes, of which 20 are sent.
        const partial = Buffer.concat([Buffer.from([0x81, 126, 0, 200]), Buffer.alloc(20, 'x')]);
        socket.write(partial, () => socket.resetAndDestroy());
      },
    };
    connections.push(conn);
    if (options.feedIntervalMs !== undefined) conn.feed(options.feedIntervalMs);
    connectionQueue.push(conn);
  }

  await listen(http, 0);
  const port = (http.address() as AddressInfo).port;

  async function kill(): Promise<void> {
    for (const t of timers) clearInterval(t);
    timers.clear();
    for (const ws of wss.clients) ws.terminate();
    for (const socket of sockets) socket.destroy();
    await stopListening(http);
  }

  return {
    port,
    url: `ws://${HOST}:${port}`,
    attempts,
    connections,
    get seq() {
      return seq;
    },
    nextAttempt: (timeoutMs) => attemptQueue.next(timeoutMs),
    nextConnection: (timeoutMs) => connectionQueue.next(timeoutMs),
    setUpgrade(next) {
      policy = next;
    },
    kill,
    async restart() {
      if (closed) throw new Error('fault server is closed');
      await listen(http, port);
    },
    async close() {
      closed = true;
      attemptQueue.end();
      connectionQueue.end();
      await kill();
      wss.close();
    },
  };
}

export interface TcpServer {
  readonly port: number;
  readonly url: string;
  /** Date.now() of every accepted TCP connection. */
  readonly accepts: readonly number[];
  /** Resolves with the time of the next accepted connection. */
  nextAccept(timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

/** Accepts TCP, then never answers ('hang') or destroys the socket at once ('destroy'). */
export async function startTcpServer(mode: 'hang' | 'destroy'): Promise<TcpServer> {
  const sockets = new Set<Socket>();
  const accepts: number[] = [];
  const queue = new AsyncQueue<number>('tcp accept');
  const server = createNetServer((socket) => {
    const at = Date.now();
    accepts.push(at);
    queue.push(at);
    socket.on('error', () => undefined);
    if (mode === 'destroy') {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://${HOST}:${port}`,
    accepts,
    nextAccept: (timeoutMs) => queue.next(timeoutMs),
    async close() {
      queue.end();
      for (const socket of sockets) socket.destroy();
      await stopListening(server);
    },
  };
}

/** A loopback port where nothing listens (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await listen(server, 0);
  const { port } = server.address() as AddressInfo;
  await stopListening(server);
  return port;
}
