/**
 * The hostile server of the fuzz test: a raw server (raw-server.ts) that
 * reads the client's upgrade request for `/fuzz/<iteration>`, writes that
 * iteration's bytes (fuzz-cases.ts) in the case's pieces, and then ends the
 * TCP connection the case's way (FIN, RST, or silence). A case with
 * redirects (fuzz-redirects.ts) first answers `/fuzz/<iteration>` and
 * `/fuzz/<iteration>/hop/<n>` with its chain's steps; it listens on
 * 127.0.0.1 and 127.0.0.2, two origins for those redirects.
 */
import { chunkWrites, type FuzzCase } from './fuzz-cases';
import { startRawServer, type RawConnection, type RawServer } from './raw-server';

export interface FuzzServer {
  /** The server on 127.0.0.1 (where each iteration starts). */
  readonly raw: RawServer;
  /** Both servers (127.0.0.1 and 127.0.0.2). */
  readonly all: readonly RawServer[];
  /** URL the client connects to for one iteration. */
  url(iteration: number): string;
  /** Iterations whose bytes were written so far. */
  readonly served: number;
  close(): Promise<void>;
}

// A prefix: a hostile Location may add bytes after the hop number.
const PATH = /^\/fuzz\/(\d+)(?:\/hop\/(\d+))?/;

async function writeOut(conn: RawConnection, bytes: Buffer, chunkSeed: number, ending: FuzzCase['ending']): Promise<void> {
  for (const piece of chunkWrites(bytes, chunkSeed)) {
    if (conn.socket.destroyed) break;
    conn.write(piece);
    // Let each piece leave as its own segment where the kernel allows.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (ending === 'end') conn.end();
  else if (ending === 'destroy') conn.destroy();
  // 'hang': keep the socket open and silent; the client must end it.
}

export async function startFuzzServer(caseFor: (iteration: number) => FuzzCase | undefined): Promise<FuzzServer> {
  let served = 0;
  const origins = { a: '', b: '' };

  function serveOn(onB: boolean) {
    return async (conn: RawConnection): Promise<void> => {
      const match = PATH.exec(conn.request.path);
      const iteration = match ? Number(match[1]) : -1;
      const fuzzCase = match ? caseFor(iteration) : undefined;
      if (!fuzzCase) {
        conn.destroy();
        throw new Error(`fuzz server: no case for ${conn.request.path}`);
      }
      const hop = match?.[2] === undefined ? 0 : Number(match[2]);
      const step = fuzzCase.redirect?.steps[hop];
      if (step) {
        const ctx = { iteration, hop, a: origins.a, b: origins.b, onB };
        await writeOut(conn, step.bytes(ctx), fuzzCase.chunkSeed + hop, step.ending);
        return;
      }
      const key = conn.request.headers['sec-websocket-key'] ?? '';
      await writeOut(conn, fuzzCase.bytes(key), fuzzCase.chunkSeed, fuzzCase.ending);
      served++;
    };
  }

  const a = await startRawServer(serveOn(false), { defaultTimeoutMs: 15_000 });
  const b = await startRawServer(serveOn(true), { host: '127.0.0.2', defaultTimeoutMs: 15_000 });
  origins.a = a.url;
  origins.b = b.url;
  return {
    raw: a,
    all: [a, b],
    url: (iteration) => `${a.url}/fuzz/${iteration}`,
    get served() {
      return served;
    },
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
}
