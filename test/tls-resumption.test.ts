/**
 * TLS session resumption: a reconnect over wss resumes the TLS session the
 * previous connection got (TLS 1.3 tickets, TLS 1.2 session IDs or
 * tickets) instead of a full handshake. lws keeps the sessions per vhost
 * (one per TLS configuration), host and port; stats() reports whether each
 * open resumed one and how long its TLS handshake took. The server (node:tls
 * under ws) says whether it resumed: TLSSocket.isSessionReused().
 */
import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { connect, type OpenInfo, type WebSocketClient } from './lib';
import { makeCerts } from './helpers/certs';
import { AsyncQueue } from './helpers/queue';
import { endAfterEach } from './helpers/wait';
import { startWsServer, type WsServer } from './helpers/ws-server';

const T = 10_000;
const certs = makeCerts();
const { clients, servers } = endAfterEach<WebSocketClient, WsServer>({ closeTimeoutMs: T });

/** A wss server recording, per accepted TLS connection, whether it resumed a session. */
async function tlsServer(options: { maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}): Promise<{ s: WsServer; reused: boolean[] }> {
  const s = await startWsServer({ tls: { key: certs.valid.key, cert: certs.valid.cert }, echo: true, defaultTimeoutMs: T });
  servers.push(s);
  if (options.maxVersion) (s.server as import('node:https').Server).setSecureContext({ key: certs.valid.key, cert: certs.valid.cert, maxVersion: options.maxVersion });
  const reused: boolean[] = [];
  s.server.on('secureConnection', (socket: TLSSocket) => reused.push(socket.isSessionReused()));
  return { s, reused };
}

function session(url: string): { c: WebSocketClient; opens: AsyncQueue<OpenInfo> } {
  const c = connect(url, { ca: certs.ca.cert, heartbeat: false, reconnect: { backoffMs: [20] } });
  clients.push(c);
  c.on('error', () => undefined);
  const opens = new AsyncQueue<OpenInfo>("'open'");
  c.on('open', (o) => opens.push(o));
  return { c, opens };
}

/** Drops the server side of the current connection (the client reconnects). */
async function dropConnection(s: WsServer): Promise<void> {
  const conn = await s.nextConnection(T);
  conn.ws.terminate();
}

describe.each(['TLSv1.3', 'TLSv1.2'] as const)('a reconnect over wss (%s)', (maxVersion) => {
  it('resumes the TLS session, and the server says so', async () => {
    const { s, reused } = await tlsServer({ maxVersion });
    const { c, opens } = session(`wss://localhost:${s.port}/`);
    const first = await opens.next(T);
    expect(first.handshake.tlsResumed).toBe(false);
    expect(first.handshake.tlsMs).toBeGreaterThan(0);
    await dropConnection(s);
    const second = await opens.next(T);
    expect(second.reconnected).toBe(true);
    expect(second.handshake.tlsResumed).toBe(true);
    expect(reused).toEqual([false, true]);
    const stats = c.stats();
    expect(stats.tlsResumptions).toBe(1);
    expect(stats.handshake).toEqual(second.handshake);
    expect(c.metrics()).toMatch(/^nlws_tls_resumptions_total\{[^}]*\} 1$/m);
    // The resumed session carries data.
    c.send('after resumption');
    const conn = await s.nextConnection(T);
    expect(String((await conn.nextMessage(T)).data)).toBe('after resumption');
  });
});

describe('sessions are kept per host and port', () => {
  it('a session of one server is not offered to another port', async () => {
    const a = await tlsServer();
    const b = await tlsServer();
    const x = session(`wss://localhost:${a.s.port}/`);
    await x.opens.next(T);
    await dropConnection(a.s);
    expect((await x.opens.next(T)).handshake.tlsResumed).toBe(true);
    // Same TLS options, so the same lws vhost: only host and port tell the sessions apart.
    const y = session(`wss://localhost:${b.s.port}/`);
    expect((await y.opens.next(T)).handshake.tlsResumed).toBe(false);
    expect(b.reused).toEqual([false]);
  });
});
