/**
 * A conforming reference server: ws's WebSocketServer on port 0, plain or TLS.
 * Every connection records its messages and close from the first moment, so a
 * test awaiting `nextConnection()` cannot miss early traffic.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { WebSocketServer, type RawData, type ServerOptions, type WebSocket } from 'ws';
import { AsyncQueue } from './queue.js';
import { withTimeout } from './wait.js';
import { listenEphemeral } from './listen.js';

export interface WsTlsOptions {
  key: string | Buffer;
  cert: string | Buffer;
  /** CA(s) used to verify client certificates. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Ask the client for a certificate (mutual TLS). */
  requestCert?: boolean;
  /** With requestCert: refuse clients without a valid certificate (default true, as in node:tls). */
  rejectUnauthorized?: boolean;
}

export interface WsServerOptions {
  /** Serve wss:// with these credentials; plain ws:// when absent. */
  tls?: WsTlsOptions;
  /** Listen address: '127.0.0.1' (default) or '::1'. */
  host?: string;
  /** Echo every message back with the same text/binary type. */
  echo?: boolean;
  perMessageDeflate?: ServerOptions['perMessageDeflate'];
  handleProtocols?: ServerOptions['handleProtocols'];
  verifyClient?: ServerOptions['verifyClient'];
  maxPayload?: number;
  /** Default timeout for nextConnection / nextMessage / waitClose (ms, default 5000). */
  defaultTimeoutMs?: number;
}

export interface WsMessage {
  data: Buffer;
  isBinary: boolean;
}

export interface WsCloseInfo {
  code: number;
  reason: string;
}

export interface WsConnection {
  ws: WebSocket;
  request: IncomingMessage;
  /** Messages not yet taken with nextMessage(), buffered since the connection opened. */
  nextMessage(timeoutMs?: number): Promise<WsMessage>;
  /** Resolves with the close code/reason ws reported (never rejects). */
  readonly closed: Promise<WsCloseInfo>;
  waitClose(timeoutMs?: number): Promise<WsCloseInfo>;
  /** Errors ws emitted on this socket (e.g. protocol violations by the client). */
  readonly errors: Error[];
}

export interface WsServer {
  readonly port: number;
  /** ws://127.0.0.1:port or wss://127.0.0.1:port (brackets for IPv6). */
  readonly url: string;
  readonly wss: WebSocketServer;
  readonly server: HttpServer | HttpsServer;
  /** WebSocket connections established so far. */
  readonly connections: number;
  /** TLS handshake failures seen by the server ('tlsClientError'). */
  readonly tlsErrors: Error[];
  nextConnection(timeoutMs?: number): Promise<WsConnection>;
  /** Terminate all clients, stop listening, destroy remaining sockets. Idempotent. */
  close(): Promise<void>;
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export async function startWsServer(options: WsServerOptions = {}): Promise<WsServer> {
  const host = options.host ?? '127.0.0.1';
  const defaultTimeout = options.defaultTimeoutMs ?? 5000;
  const tls = options.tls;
  const server: HttpServer | HttpsServer = tls
    ? createHttpsServer({
        key: tls.key,
        cert: tls.cert,
        ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
        requestCert: tls.requestCert ?? false,
        rejectUnauthorized: tls.rejectUnauthorized ?? true,
      })
    : createHttpServer();

  const sockets = new Set<Socket>();
  const tlsErrors: Error[] = [];
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', (error: Error, socket: Socket) => {
    tlsErrors.push(error);
    socket.destroy();
  });
  // Plain HTTP requests (not upgrades) get a clear answer instead of hanging.
  server.on('request', (_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close' }).end('WebSocket only\n');
  });

  const wssOptions: ServerOptions = { server };
  if (options.perMessageDeflate !== undefined) wssOptions.perMessageDeflate = options.perMessageDeflate;
  if (options.handleProtocols !== undefined) wssOptions.handleProtocols = options.handleProtocols;
  if (options.verifyClient !== undefined) wssOptions.verifyClient = options.verifyClient;
  if (options.maxPayload !== undefined) wssOptions.maxPayload = options.maxPayload;
  const wss = new WebSocketServer(wssOptions);
  wss.on('error', () => {
    // Re-emitted server errors; listen() failures are reported below.
  });

  const queue = new AsyncQueue<WsConnection>('ws server connection');
  let established = 0;
  wss.on('connection', (ws, request) => {
    established++;
    const messages = new AsyncQueue<WsMessage>('message from client', defaultTimeout);
    const errors: Error[] = [];
    const closed = new Promise<WsCloseInfo>((resolve) => {
      ws.once('close', (code, reason) => {
        messages.end();
        resolve({ code, reason: reason.toString('utf8') });
      });
    });
    ws.on('error', (error) => errors.push(error));
    ws.on('message', (data, isBinary) => {
      const message: WsMessage = { data: toBuffer(data), isBinary };
      messages.push(message);
      if (options.echo) ws.send(message.data, { binary: isBinary });
    });
    queue.push({
      ws,
      request,
      nextMessage: (timeoutMs = defaultTimeout) => messages.next(timeoutMs),
      closed,
      waitClose: (timeoutMs = defaultTimeout) => withTimeout(closed, timeoutMs, 'ws connection close'),
      errors,
    });
  });

  const { port, urlHost } = await listenEphemeral(server, host);

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `${tls ? 'wss' : 'ws'}://${urlHost}:${port}`,
    wss,
    server,
    get connections() {
      return established;
    },
    tlsErrors,
    nextConnection: (timeoutMs = defaultTimeout) => queue.next(timeoutMs),
    close() {
      closing ??= new Promise<void>((resolve) => {
        queue.end();
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
