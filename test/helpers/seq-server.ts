/**
 * A ws server for the session tests (queue, rotation) on 127.0.0.1, port 0.
 *
 * It records everything in one ordered log (connection opened, message
 * received, connection closed), so a test can check what the server saw and
 * in which order, across connections. On demand it:
 *  - terminates a connection after it received `terminateAfter` messages, or
 *    all connections at once (`terminateAll`);
 *  - refuses new upgrades with an HTTP status (`refuse(503)`), which keeps a
 *    session reconnecting while the test looks at its queue;
 *  - broadcasts one global sequence number to every open connection on an
 *    interval (`startBroadcast`): `{"seq":N}`, each number sent to each
 *    connection open at that moment.
 *
 * It emits 'connection' (conn), 'message' (conn, text) and 'close' (conn), so
 * tests await events (see `until`) instead of sleeping.
 */
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { TimeoutError } from './wait.js';

export interface SeqConn {
  /** 1, 2, 3... in the order the server accepted them. */
  readonly id: number;
  readonly ws: WebSocket;
  /** Text of every message received on this connection, in order. */
  readonly messages: string[];
  /** Set once ws reports the close. */
  closeInfo: { code: number; reason: string } | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;
}

export type LogEntry =
  | { kind: 'open'; conn: number }
  | { kind: 'message'; conn: number; data: string }
  | { kind: 'close'; conn: number; code: number };

export interface SeqServerOptions {
  /** Terminate (TCP drop, no Close frame) a connection once it has received this many messages. */
  terminateAfter?: number;
  /**
   * Subscribe a connection to the broadcast when its upgrade request arrives
   * (before the 101 is written), and broadcast one number right then: that
   * number goes to the open connections at once and to the new one as its
   * first message after the 101. (Servers that subscribe a client while
   * accepting it behave so.)
   */
  subscribeOnRequest?: boolean;
  /**
   * When an upgrade request arrives, broadcast this many numbers to the
   * connections already open, just before the 101 (the new connection does
   * not get them): the last numbers only the old connections carry.
   */
  burstBeforeUpgrade?: number;
}

export interface SeqServer extends EventEmitter {
  readonly url: string;
  readonly conns: SeqConn[];
  /** Every message received, all connections, in arrival order. */
  readonly received: Array<{ conn: number; data: string }>;
  readonly log: LogEntry[];
  /** Upgrade requests answered with an HTTP error while refusing. */
  readonly refusals: number;
  /** Refuse new upgrades with this status (e.g. 503); false accepts again. */
  refuse(status: number | false): void;
  /** Drop every open connection without a Close frame. */
  terminateAll(): void;
  /** Send {"seq":N} to every open connection every `intervalMs`; N is one counter for the server. */
  startBroadcast(intervalMs: number): void;
  /** Broadcast the next number now (also what each interval tick does). */
  broadcastNow(): void;
  stopBroadcast(): void;
  /** The next sequence number the broadcast will send. */
  readonly nextSeq: number;
  close(): Promise<void>;
}

function text(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

export async function startSeqServer(options: SeqServerOptions = {}): Promise<SeqServer> {
  const http: Server = createServer((_req, res) => {
    res.writeHead(426, { Connection: 'close' }).end();
  });
  const sockets = new Set<Socket>();
  http.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  let refuseStatus: number | false = false;
  let refusals = 0;
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    verifyClient: (_info, cb) => {
      if (refuseStatus !== false) {
        refusals++;
        cb(false, refuseStatus, 'Refused by the test');
      } else {
        cb(true);
      }
    },
  });
  wss.on('error', () => undefined);

  const emitter = new EventEmitter();
  const conns: SeqConn[] = [];
  const received: Array<{ conn: number; data: string }> = [];
  const log: LogEntry[] = [];
  let seq = 0;
  let ticker: NodeJS.Timeout | undefined;

  wss.on('connection', (ws) => {
    let resolveClosed!: (v: { code: number; reason: string }) => void;
    const conn: SeqConn = {
      id: conns.length + 1,
      ws,
      messages: [],
      closeInfo: undefined,
      closed: new Promise((resolve) => {
        resolveClosed = resolve;
      }),
    };
    conns.push(conn);
    log.push({ kind: 'open', conn: conn.id });
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      const t = text(data);
      conn.messages.push(t);
      received.push({ conn: conn.id, data: t });
      log.push({ kind: 'message', conn: conn.id, data: t });
      if (options.terminateAfter !== undefined && conn.messages.length === options.terminateAfter) ws.terminate();
      emitter.emit('message', conn, t);
    });
    ws.once('close', (code, reason) => {
      conn.closeInfo = { code, reason: reason.toString('utf8') };
      log.push({ kind: 'close', conn: conn.id, code });
      resolveClosed(conn.closeInfo);
      emitter.emit('close', conn);
    });
    emitter.emit('connection', conn);
  });

  // Broadcast numbers sent while an upgrade is in progress, per pending upgrade.
  const pending = new Set<string[]>();
  http.on('upgrade', (req, socket, head) => {
    let early: string[] | undefined;
    if (options.burstBeforeUpgrade && refuseStatus === false) {
      for (let i = 0; i < options.burstBeforeUpgrade; i++) broadcastNow();
    }
    if (options.subscribeOnRequest && refuseStatus === false) {
      early = [];
      pending.add(early);
      broadcastNow();
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      wss.emit('connection', ws, req);
      if (early) {
        pending.delete(early);
        for (const m of early) ws.send(m);
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      http.removeListener('error', reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;

  const broadcastNow = (): void => {
    const msg = JSON.stringify({ seq: seq++ });
    for (const ws of wss.clients) if (ws.readyState === ws.OPEN) ws.send(msg);
    for (const early of pending) early.push(msg);
  };
  let closing: Promise<void> | undefined;
  const api = {
    url: `ws://127.0.0.1:${port}`,
    conns,
    received,
    log,
    refuse(status: number | false) {
      refuseStatus = status;
    },
    terminateAll() {
      for (const ws of wss.clients) ws.terminate();
    },
    startBroadcast(intervalMs: number) {
      if (ticker) return;
      ticker = setInterval(broadcastNow, intervalMs);
    },
    broadcastNow,
    stopBroadcast() {
      if (ticker) clearInterval(ticker);
      ticker = undefined;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        if (ticker) clearInterval(ticker);
        ticker = undefined;
        for (const ws of wss.clients) ws.terminate();
        wss.close();
        http.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
  Object.assign(emitter, api);
  // Live values (Object.assign would copy a getter's value once).
  Object.defineProperties(emitter, {
    refusals: { get: () => refusals, enumerable: true },
    nextSeq: { get: () => seq, enumerable: true },
  });
  return emitter as SeqServer;
}

/**
 * Resolves once `predicate()` is true: checked now, then after each `event`
 * of `emitter`. Rejects with a TimeoutError after `timeoutMs`. For counters
 * that grow with events (messages received, disconnects seen...).
 */
export function until(
  emitter: EventEmitter,
  event: string,
  predicate: () => boolean,
  timeoutMs: number,
  label = `${event} condition`,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const check = (): void => {
      let ok: boolean;
      try {
        ok = predicate();
      } catch (e) {
        done();
        reject(e as Error);
        return;
      }
      if (ok) {
        done();
        resolve();
      }
    };
    const done = (): void => {
      clearTimeout(timer);
      emitter.removeListener(event, check);
    };
    const timer = setTimeout(() => {
      done();
      reject(new TimeoutError(label, timeoutMs));
    }, timeoutMs);
    emitter.on(event, check);
    check();
  });
}
