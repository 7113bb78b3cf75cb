/**
 * A TCP server that accepts, reads the client's first TLS record and never
 * answers: a TLS handshake that hangs after the ClientHello. `hellos` gets an
 * entry for every connection whose first bytes are a TLS handshake record
 * carrying a ClientHello (content type 22, handshake type 1).
 */
import { createServer, type Socket } from 'node:net';
import { listenEphemeral } from './listen.js';
import { AsyncQueue } from './queue.js';

export interface HelloSink {
  readonly port: number;
  /** wss://127.0.0.1:port/ */
  readonly url: string;
  /** One item per ClientHello received: its first bytes. */
  readonly hellos: AsyncQueue<Buffer>;
  close(): Promise<void>;
}

export async function startHelloSink(): Promise<HelloSink> {
  const sockets = new Set<Socket>();
  const hellos = new AsyncQueue<Buffer>('ClientHellos');
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      if (head.length < 6) return;
      socket.off('data', onData);
      if (head[0] === 0x16 && head[5] === 0x01) hellos.push(head);
    };
    socket.on('data', onData);
  });
  const { port } = await listenEphemeral(server, '127.0.0.1');
  return {
    port,
    url: `wss://127.0.0.1:${port}/`,
    hellos,
    close: () =>
      new Promise<void>((resolve) => {
        hellos.end();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
