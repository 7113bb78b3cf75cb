// The network work runs on the service thread: with the JS thread blocked
// for 15 s, a healthy connection survives the server's own heartbeat (the
// service thread answers its pings), and a black-holed one is detected and
// replaced during the block; what the new connection received is delivered
// in order once JS runs again.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { connect, type DisconnectInfo, type OpenInfo } from './lib';
import { once, withTimeout } from './helpers/wait';

const T = 20_000;
const BLOCK_MS = 15_000;

interface Report {
  event: string;
  at: number;
  [k: string]: unknown;
}

function busy(ms: number): { from: number; to: number } {
  const from = Date.now();
  while (Date.now() - from < ms) {
    // The JS thread handles nothing meanwhile.
  }
  return { from, to: Date.now() };
}

describe('JS thread blocked for 15 s', () => {
  it('keeps a healthy connection and replaces a black-holed one during the block', async () => {
    const worker = new Worker(path.join(__dirname, 'fixtures', 'blocked-servers.cjs'), {
      workerData: { wsPath: require.resolve('ws') },
    });
    const reports: Report[] = [];
    worker.on('message', (r: Report) => reports.push(r));
    const waitReport = (event: string, n?: number): Promise<Report> =>
      withTimeout(
        new Promise<Report>((resolve) => {
          const match = (r: Report): boolean => r.event === event && (n === undefined || r.n === n);
          const found = reports.find(match);
          if (found) return resolve(found);
          const on = (r: Report): void => {
            if (match(r)) {
              worker.off('message', on);
              resolve(r);
            }
          };
          worker.on('message', on);
        }),
        T,
        `worker report ${event}`,
      );
    try {
      const ready = await waitReport('ready');
      const healthy = connect(`ws://127.0.0.1:${String(ready.healthy)}/`, { heartbeat: { intervalMs: 1000, timeoutMs: 1000 } });
      const hole = connect(`ws://127.0.0.1:${String(ready.blackhole)}/`, {
        heartbeat: { intervalMs: 1000, timeoutMs: 1000 },
        reconnect: { backoffMs: [100], jitterPercent: 1 },
      });
      const disconnects: Array<[string, DisconnectInfo]> = [];
      healthy.on('disconnect', (d) => disconnects.push(['healthy', d]));
      hole.on('disconnect', (d) => disconnects.push(['hole', d]));
      const opens: OpenInfo[] = [];
      hole.on('open', (info) => opens.push(info));
      const seqs: number[] = [];
      hole.on('message', (data) => seqs.push((JSON.parse(String(data)) as { seq: number }).seq));
      await withTimeout(Promise.all([healthy.opened, hole.opened]), T, 'both open');

      worker.postMessage({ blackholeAfterMs: 2000 });
      const block = busy(BLOCK_MS);

      // Everything below happened during the block; JS learns of it now.
      const all50 = new Promise<void>((resolve) => {
        if (seqs.length >= 50) resolve();
        hole.on('message', () => {
          if (seqs.length >= 50) resolve();
        });
      });
      await withTimeout(all50, T, '50 feed messages');
      const blackholed = await waitReport('blackholed');
      const second = await waitReport('blackhole-connection', 2);

      // Healthy: never dropped, and the server's pings were answered.
      expect(reports.filter((r) => r.event === 'healthy-timeout')).toEqual([]);
      expect(disconnects.filter(([who]) => who === 'healthy')).toEqual([]);
      expect(healthy.state).toBe('open');
      healthy.send('stats');
      const [statsMsg] = await once<[string]>(healthy, 'message', T);
      const { pings, pongs } = JSON.parse(statsMsg) as { pings: number; pongs: number };
      expect(pings).toBeGreaterThanOrEqual(14);
      expect(pongs).toBeGreaterThanOrEqual(pings - 1);

      // Black hole: detected by the heartbeat and replaced, all inside the block.
      const lost = disconnects.filter(([who]) => who === 'hole').map(([, d]) => d);
      expect(lost).toHaveLength(1);
      expect(lost[0]?.cause).toBe('heartbeat');
      const detectedAt = lost[0]?.at ?? 0;
      expect(detectedAt).toBeGreaterThan(blackholed.at);
      expect(detectedAt).toBeLessThan(blackholed.at + 1000 + 1000 + 1500);
      expect(second.at).toBeGreaterThan(detectedAt - 1);
      expect(second.at).toBeLessThan(block.to);
      expect(opens.map((o) => o.reconnected)).toEqual([false, true]);
      // The replacement's messages, delivered after the block, in order.
      expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));

      await Promise.all([healthy.close(), hole.close()]);
    } finally {
      worker.postMessage('stop');
      await once(worker, 'exit', T).catch(() => worker.terminate());
    }
  }, 60_000);
});
