import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { connectOnce } from './lib';
import { makeCerts } from './helpers/certs';
import { startWsServer } from './helpers/ws-server';
import { once, withTimeout } from './helpers/wait';

const T = 20_000;

function nextMessage<M>(w: Worker, key: string): Promise<M> {
  return withTimeout(
    new Promise<M>((resolve) => {
      const on = (m: Record<string, unknown>): void => {
        if (key in m) {
          w.off('message', on);
          resolve(m as M);
        }
      };
      w.on('message', on);
    }),
    T,
    `worker message ${key}`,
  );
}

function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // Keep the JS thread from handling any event.
  }
}

describe('receive back-pressure', () => {
  it('stops reading from the socket while JS is busy instead of buffering without bound', async () => {
    const shared = new SharedArrayBuffer(8);
    const flags = new Int32Array(shared);
    const worker = new Worker(path.join(__dirname, 'fixtures', 'flood-server.cjs'), {
      workerData: { shared, wsPath: require.resolve('ws') },
    });
    try {
      const { port } = await nextMessage<{ port: number }>(worker, 'port');
      const connected = nextMessage(worker, 'connected');
      const size = 64 * 1024;
      const count = 1024; // 64 MiB in flight
      const c = connectOnce(`ws://127.0.0.1:${port}/`, { receiveHighWaterMark: 256 * 1024, perMessageDeflate: false });
      await withTimeout(c.opened, T, 'open');
      await connected;
      let received = 0;
      let bytes = 0;
      const all = new Promise<void>((resolve) =>
        c.on('message', (data) => {
          bytes += (data as Buffer).length;
          if (++received === count) resolve();
        }),
      );
      const flooding = nextMessage(worker, 'flooding');
      worker.postMessage({ cmd: 'flood', size, count });
      await flooding;

      // Block this thread: no batch can be delivered, so nothing is acknowledged.
      busy(1500);
      worker.postMessage({ cmd: 'sample' });
      // Still blocked (Atomics.wait): the sample is taken before any batch is handled.
      expect(Atomics.wait(flags, 0, 0, 10_000)).not.toBe('timed-out');
      const unsentKiB = Atomics.load(flags, 1);
      // Had the client kept reading, the 64 MiB would have left the server
      // (loopback moves that in well under the 1.5 s). Paused at 256 KiB, most
      // of it is still queued at the server: kernel buffers hold a few MiB.
      expect(unsentKiB * 1024).toBeGreaterThan(32 * 1024 * 1024);

      await withTimeout(all, T, 'all messages after resuming');
      expect(bytes).toBe(size * count);
      await withTimeout(c.close(), T, 'close');
    } finally {
      worker.postMessage({ cmd: 'stop' });
      await once(worker, 'exit', T).catch(() => worker.terminate());
    }
  });

  it('over TLS, pausing for a slow listener many times loses neither the connection nor a message', async () => {
    // lws used to drop a paused TLS connection (1006) when OpenSSL still held
    // decrypted bytes: its read loop spun on its own buffered copy and gave
    // up after 100 turns (deps/patch-lws.py, fix 5). A small high-water mark
    // and a listener that sometimes stalls pause the connection thousands of
    // times while the server streams small frames in 16 KiB TLS records.
    const certs = makeCerts();
    const server = await startWsServer({ tls: { key: certs.valid.key, cert: certs.valid.cert }, defaultTimeoutMs: T });
    try {
      const count = 400_000;
      const frame = Buffer.concat([Buffer.from([0x82, 16]), Buffer.alloc(16, 7)]);
      const burst = Buffer.concat(Array<Buffer>(4096).fill(frame));
      const c = connectOnce(`${server.url}/`, {
        ca: certs.ca.cert,
        receiveHighWaterMark: 4 * 1024,
        perMessageDeflate: false,
      });
      const conn = await server.nextConnection(T);
      await withTimeout(c.opened, T, 'open');
      let received = 0;
      let closed: number | undefined;
      c.on('close', (code) => {
        closed = code;
      });
      const all = new Promise<void>((resolve) =>
        c.on('message', () => {
          // Stall now and then, so the service thread runs ahead and pauses.
          if (++received % 5000 === 0) busy(2);
          if (received === count) resolve();
        }),
      );
      // Pre-framed writes straight to the TLS socket: no per-message cost at
      // the server, so the client is always the slower side.
      const socket = (conn.ws as unknown as { _socket: import('node:net').Socket })._socket;
      for (let sent = 0; sent < count; sent += 4096) {
        if (!socket.write(sent + 4096 <= count ? burst : burst.subarray(0, (count - sent) * frame.length))) {
          await once(socket, 'drain', T);
        }
      }
      await withTimeout(all, T, `all ${count} messages (got ${received}, close ${closed})`);
      expect(closed).toBeUndefined();
      expect(received).toBe(count);
      c.terminate();
    } finally {
      await server.close();
    }
  });
});
