/**
 * The hostile server of the fuzz test: a raw server (raw-server.ts) that
 * reads the client's upgrade request for `/fuzz/<iteration>`, writes that
 * iteration's bytes (fuzz-cases.ts) in the case's pieces, and then ends the
 * TCP connection the case's way (FIN, RST, or silence).
 */
import { chunkWrites, type FuzzCase } from './fuzz-cases';
import { startRawServer, type RawConnection, type RawServer } from './raw-server';

export interface FuzzServer {
  readonly raw: RawServer;
  /** URL the client connects to for one iteration. */
  url(iteration: number): string;
  /** Iterations whose bytes were written so far. */
  readonly served: number;
  close(): Promise<void>;
}

export async function startFuzzServer(caseFor: (iteration: number) => FuzzCase | undefined): Promise<FuzzServer> {
  let served = 0;

  async function serve(conn: RawConnection): Promise<void> {
    const match = /^\/fuzz\/(\d+)$/.exec(conn.request.path);
    const fuzzCase = match ? caseFor(Number(match[1])) : undefined;
    if (!fuzzCase) {
      conn.destroy();
      throw new Error(`fuzz server: no case for ${conn.request.path}`);
    }
    const key = conn.request.headers['sec-websocket-key'] ?? '';
    for (const piece of chunkWrites(fuzzCase.bytes(key), fuzzCase.chunkSeed)) {
      if (conn.socket.destroyed) break;
      conn.write(piece);
      // Let each piece leave as its own segment where the kernel allows.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    served++;
    if (fuzzCase.ending === 'end') conn.end();
    else if (fuzzCase.ending === 'destroy') conn.destroy();
    // 'hang': keep the socket open and silent; the client must end it.
  }

  const raw = await startRawServer(serve, { defaultTimeoutMs: 15_000 });
  return {
    raw,
    url: (iteration) => `${raw.url}/fuzz/${iteration}`,
    get served() {
      return served;
    },
    close: () => raw.close(),
  };
}
