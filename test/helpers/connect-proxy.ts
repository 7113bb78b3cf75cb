/**
 * Minimal HTTP CONNECT proxy (node:http + node:net) for tunnel tests.
 * Optional Basic auth (407 otherwise); records every CONNECT target.
 * By default it only tunnels to loopback targets (403 otherwise).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { listenEphemeral } from './listen.js';

export interface ConnectProxyOptions {
  /** Require `Proxy-Authorization: Basic base64(user:pass)`. */
  auth?: { user: string; pass: string };
  /** Listen address: '127.0.0.1' (default) or '::1'. */
  host?: string;
  /** Which targets may be tunnelled (default: 127.0.0.1, ::1, localhost). */
  allowTarget?: (host: string, port: number) => boolean;
  /** Answer every CONNECT with this status line instead (e.g. '401 Unauthorized', as tinyproxy may). */
  refuseWith?: string;
}

export type ConnectOutcome = 'tunnel' | 'auth-required' | 'forbidden' | 'bad-request' | 'bad-gateway' | 'refused';

export interface ConnectRecord {
  /** Target as written in the request line, e.g. "127.0.0.1:8080". */
  target: string;
  headers: IncomingMessage['headers'];
  outcome: ConnectOutcome;
}

export interface ConnectProxy {
  readonly port: number;
  /** http://127.0.0.1:port (brackets for IPv6). */
  readonly url: string;
  /** Every CONNECT target seen, in order (including refused ones). */
  readonly requests: string[];
  /** Details per CONNECT, same order as `requests`. */
  readonly log: ConnectRecord[];
  readonly server: Server;
  /** Stop listening and destroy all client and upstream sockets. Idempotent. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function parseTarget(target: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(target);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}

function answer(socket: Duplex, status: string, extra = ''): void {
  socket.end(`HTTP/1.1 ${status}\r\n${extra}Content-Length: 0\r\nConnection: close\r\n\r\n`);
}

export async function startConnectProxy(options: ConnectProxyOptions = {}): Promise<ConnectProxy> {
  const host = options.host ?? '127.0.0.1';
  const allowTarget = options.allowTarget ?? ((h: string) => LOOPBACK.has(h));
  const expectedToken = options.auth
    ? Buffer.from(`${options.auth.user}:${options.auth.pass}`).toString('base64')
    : undefined;
  // The auth scheme is case-insensitive (RFC 9110 11.1); lws sends "basic".
  const authorized = (value: string | undefined): boolean => {
    const m = /^basic\s+(\S+)\s*$/i.exec(value ?? '');
    return m !== null && m[1] === expectedToken;
  };
  const requests: string[] = [];
  const log: ConnectRecord[] = [];
  const sockets = new Set<Socket | Duplex>();
  const track = (socket: Socket | Duplex): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };

  const server = createServer((_req, res) => {
    res.writeHead(405, { Allow: 'CONNECT', Connection: 'close' }).end();
  });
  server.on('connection', track);

  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const target = req.url ?? '';
    const record: ConnectRecord = { target, headers: req.headers, outcome: 'tunnel' };
    requests.push(target);
    log.push(record);
    track(client);

    if (options.refuseWith !== undefined) {
      record.outcome = 'refused';
      answer(client, options.refuseWith);
      return;
    }
    if (expectedToken !== undefined && !authorized(req.headers['proxy-authorization'])) {
      record.outcome = 'auth-required';
      answer(client, '407 Proxy Authentication Required', 'Proxy-Authenticate: Basic realm="test"\r\n');
      return;
    }
    const parsed = parseTarget(target);
    if (!parsed) {
      record.outcome = 'bad-request';
      answer(client, '400 Bad Request');
      return;
    }
    if (!allowTarget(parsed.host, parsed.port)) {
      record.outcome = 'forbidden';
      answer(client, '403 Forbidden');
      return;
    }

    const upstream = connect({ host: parsed.host, port: parsed.port });
    track(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once('error', () => {
      if (!connected) {
        record.outcome = 'bad-gateway';
        answer(client, '502 Bad Gateway');
      } else {
        client.destroy();
      }
    });
    upstream.once('close', () => {
      if (connected) client.destroy();
    });
    client.once('close', () => upstream.destroy());
  });

  const { port, urlHost } = await listenEphemeral(server, host);

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${urlHost}:${port}`,
    requests,
    log,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
