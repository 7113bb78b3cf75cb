/**
 * A hand-driven WebSocket "server" over node:net. It reads the client's HTTP
 * upgrade request and then lets the test decide everything: accept (with a
 * right or wrong Sec-WebSocket-Accept), reject, write arbitrary bytes, or
 * never answer. Everything the client sends after the request is decoded
 * with FrameReader and queued for assertions.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { FrameReader, type DecodedFrame } from './frames.js';
import { AsyncQueue } from './queue.js';
import { withTimeout } from './wait.js';
import { listenEphemeral } from './listen.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_HEAD_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

/** Sec-WebSocket-Accept for a given Sec-WebSocket-Key. */
export function computeAccept(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

export interface RawRequest {
  method: string;
  /** Request target as sent, e.g. "/chat?x=1". */
  path: string;
  /** e.g. "HTTP/1.1". */
  httpVersion: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Header lines in order, names with their original case. */
  rawHeaders: Array<[name: string, value: string]>;
  /** The request head exactly as received, without the final CRLFCRLF. */
  head: string;
}

export interface AcceptOptions {
  /** Send this Sec-WebSocket-Accept instead of the correct one. */
  acceptKey?: string;
  /** Bytes written in the same write as the 101 (e.g. a frame in the same segment). */
  appendData?: Buffer;
}

export interface RawConnection {
  /** Zero-based index of this TCP connection on the server. */
  readonly index: number;
  readonly request: RawRequest;
  readonly socket: Socket;
  /**
   * Write a 101 response. `extraHeaders` are added after the standard ones;
   * a name matching a standard header (case-insensitive) replaces it, and a
   * null value removes it.
   */
  accept(extraHeaders?: Record<string, string | null>, options?: AcceptOptions): void;
  /** Write an HTTP error response (Content-Length set, Connection: close) and end the socket. */
  reject(status: number, headers?: Record<string, string>, body?: string | Buffer): void;
  /** Write raw bytes (ignored once the socket is gone). */
  write(data: Buffer | string): void;
  /** Next frame the client sent; rejects on timeout or if the connection ended first. */
  nextFrame(timeoutMs?: number): Promise<DecodedFrame>;
  /** Async iteration over client frames; ends when the connection closes. */
  readonly frames: AsyncIterable<DecodedFrame>;
  /** Resolves when the TCP socket has closed (never rejects). */
  readonly closed: Promise<void>;
  /** Wait for `closed`, bounded by `timeoutMs`. */
  waitClosed(timeoutMs?: number): Promise<void>;
  /** Send FIN after pending writes. */
  end(): void;
  /** Tear the socket down immediately (RST if data is pending). */
  destroy(): void;
}

export type RawHandler = (conn: RawConnection) => void | Promise<void>;

export interface RawServerOptions {
  /** Listen address: '127.0.0.1' (default) or '::1'. */
  host?: string;
  /** Default timeout for nextFrame / waitClosed / nextConnection (ms, default 5000). */
  defaultTimeoutMs?: number;
  /** Serve TLS (wss://) with these options; each connection's socket is then a TLSSocket. */
  tls?: TlsOptions;
}

export interface RawServer {
  readonly port: number;
  readonly host: string;
  /** ws://127.0.0.1:port or ws://[::1]:port (wss:// with `tls`) */
  readonly url: string;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Sockets currently open. */
  readonly openSockets: number;
  /** Errors thrown by the handler, oversized request heads, frame decode errors. */
  readonly errors: Error[];
  /** Next connection whose request head was read (also delivered to the handler). */
  nextConnection(timeoutMs?: number): Promise<RawConnection>;
  readonly server: Server;
  /** Stop listening and destroy every open socket. Idempotent. */
  close(): Promise<void>;
}

function parseHead(head: string): RawRequest {
  const lines = head.split('\r\n');
  const requestLine = lines[0] ?? '';
  const match = /^(\S+) (\S+) (HTTP\/\d(?:\.\d)?)$/.exec(requestLine);
  if (!match) throw new Error(`malformed request line: ${JSON.stringify(requestLine)}`);
  const headers: Record<string, string> = {};
  const rawHeaders: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed header line: ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    rawHeaders.push([name, value]);
    const lower = name.toLowerCase();
    const previous = headers[lower];
    headers[lower] = previous === undefined ? value : `${previous}, ${value}`;
  }
  return {
    method: match[1] as string,
    path: match[2] as string,
    httpVersion: match[3] as string,
    headers,
    rawHeaders,
    head,
  };
}

const STATUS_TEXT: Record<number, string> = {
  101: 'Switching Protocols',
  200: 'OK',
  301: 'Moved Permanently',
  302: 'Found',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function formatHeaders(headers: Array<[string, string]>): string {
  return headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
}

export async function startRawServer(
  handler?: RawHandler | null,
  options: RawServerOptions = {},
): Promise<RawServer> {
  const host = options.host ?? '127.0.0.1';
  const defaultTimeout = options.defaultTimeoutMs ?? 5000;
  const sockets = new Set<Socket>();
  const errors: Error[] = [];
  const pending = new AsyncQueue<RawConnection>('raw server connection');
  let accepted = 0;

  const onSocket = (socket: Socket): void => {
    const index = accepted++;
    sockets.add(socket);
    socket.on('error', () => {
      // ECONNRESET etc. are normal in hostile tests; 'close' follows.
    });
    socket.on('close', () => sockets.delete(socket));
    readHead(socket, index);
  };
  const server: Server = options.tls ? createTlsServer(options.tls, onSocket) : createServer(onSocket);
  // TCP connections of a TLS server, handshake or not: close() ends them all.
  const tcp = new Set<Socket>();
  if (options.tls) {
    // A TLS handshake the client refuses is its business, not a server error.
    server.on('tlsClientError', () => undefined);
    server.on('connection', (socket: Socket) => {
      tcp.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => tcp.delete(socket));
    });
  }

  function readHead(socket: Socket, index: number): void {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf(HEAD_END);
      if (end === -1) {
        if (head.length > MAX_HEAD_BYTES) {
          socket.removeListener('data', onData);
          errors.push(new Error(`connection ${index}: request head exceeds ${MAX_HEAD_BYTES} bytes`));
          socket.end('HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        }
        return;
      }
      socket.removeListener('data', onData);
      let request: RawRequest;
      try {
        request = parseHead(head.subarray(0, end).toString('latin1'));
      } catch (error) {
        errors.push(error instanceof Error ? error : new Error(String(error)));
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const conn = makeConnection(socket, index, request, head.subarray(end + HEAD_END.length));
      pending.push(conn);
      if (handler) {
        try {
          const result = handler(conn);
          if (result) {
            result.catch((error: unknown) => {
              errors.push(error instanceof Error ? error : new Error(String(error)));
              socket.destroy();
            });
          }
        } catch (error) {
          errors.push(error instanceof Error ? error : new Error(String(error)));
          socket.destroy();
        }
      }
    };
    socket.on('data', onData);
  }

  function makeConnection(socket: Socket, index: number, request: RawRequest, rest: Buffer): RawConnection {
    const frameQueue = new AsyncQueue<DecodedFrame>(`frame from client (connection ${index})`, defaultTimeout);
    const reader = new FrameReader();
    const feed = (chunk: Buffer): void => {
      if (frameQueue.ended) return;
      try {
        for (const frame of reader.push(chunk)) frameQueue.push(frame);
      } catch (error) {
        const err = error instanceof Error ? error : new Error(String(error));
        errors.push(err);
        frameQueue.end(err);
      }
    };
    const closed = new Promise<void>((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once('close', () => resolve());
    });
    void closed.then(() => frameQueue.end());
    socket.on('data', feed);
    if (rest.length > 0) feed(rest);

    const write = (data: Buffer | string): void => {
      if (!socket.destroyed && socket.writable) socket.write(data);
    };

    return {
      index,
      request,
      socket,
      accept(extraHeaders = {}, acceptOptions = {}) {
        const key = request.headers['sec-websocket-key'] ?? '';
        const headers: Array<[string, string]> = [
          ['Upgrade', 'websocket'],
          ['Connection', 'Upgrade'],
          ['Sec-WebSocket-Accept', acceptOptions.acceptKey ?? computeAccept(key)],
        ];
        for (const [name, value] of Object.entries(extraHeaders)) {
          const existing = headers.findIndex(([n]) => n.toLowerCase() === name.toLowerCase());
          if (existing !== -1) headers.splice(existing, 1);
          if (value !== null) headers.push([name, value]);
        }
        const response = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\n${formatHeaders(headers)}\r\n`, 'latin1');
        write(acceptOptions.appendData ? Buffer.concat([response, acceptOptions.appendData]) : response);
      },
      reject(status, headers = {}, body = '') {
        const bodyBuf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
        const all: Array<[string, string]> = [
          ['Connection', 'close'],
          ['Content-Length', String(bodyBuf.length)],
        ];
        for (const [name, value] of Object.entries(headers)) {
          const existing = all.findIndex(([n]) => n.toLowerCase() === name.toLowerCase());
          if (existing !== -1) all.splice(existing, 1);
          all.push([name, value]);
        }
        const statusLine = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Status'}\r\n`;
        if (!socket.destroyed && socket.writable) {
          socket.end(Buffer.concat([Buffer.from(statusLine + formatHeaders(all) + '\r\n', 'latin1'), bodyBuf]));
        }
      },
      write,
      nextFrame(timeoutMs = defaultTimeout) {
        return frameQueue.next(timeoutMs);
      },
      frames: frameQueue,
      closed,
      waitClosed(timeoutMs = defaultTimeout) {
        return withTimeout(closed, timeoutMs, `connection ${index} to close`);
      },
      end() {
        if (!socket.destroyed) socket.end();
      },
      destroy() {
        socket.destroy();
      },
    };
  }

  const { port, urlHost } = await listenEphemeral(server, host);

  let closing: Promise<void> | undefined;
  return {
    port,
    host,
    url: `${options.tls ? 'wss' : 'ws'}://${urlHost}:${port}`,
    get connections() {
      return accepted;
    },
    get openSockets() {
      return sockets.size;
    },
    errors,
    server,
    nextConnection(timeoutMs = defaultTimeout) {
      return pending.next(timeoutMs);
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        pending.end();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
        for (const socket of tcp) socket.destroy();
      });
      return closing;
    },
  };
}
