/**
 * Make-before-break rotation (maxConnectionAgeMs): the replacement opens,
 * onOpen runs on it, delivery switches to it, then the old connection closes
 * with 1000. Checked against a server that broadcasts one global sequence
 * number to all its connections every 5 ms, so a gap or a duplicate in what
 * the application receives is visible.
 */
import { describe, expect, it } from 'vitest';
import { startSeqServer, until, type SeqServer } from './helpers/seq-server';
import { endAfterEach, once, withTimeout } from './helpers/wait';
import { connect, type ConnectOptions, type WebSocketClient } from './lib';

const T = 5000;
const TICK_MS = 5;
const AGE_MS = 300;
const { clients, servers } = endAfterEach<WebSocketClient, SeqServer>();

async function broadcaster(options: Parameters<typeof startSeqServer>[0] = {}): Promise<SeqServer> {
  const s = await startSeqServer(options);
  servers.push(s);
  s.startBroadcast(TICK_MS);
  return s;
}

type Phase = 'start' | 'open' | 'switch' | 'done' | 'failed';

/** A rotating session recording every seq received, and the session events in order. */
function rotating(url: string, options: ConnectOptions = {}) {
  const c = connect(url, {
    heartbeat: false,
    maxConnectionAgeMs: AGE_MS,
    maxConnectionAgeJitterPercent: 0,
    rotationOverlapMs: 100,
    reconnect: { backoffMs: [50], jitterPercent: 1 },
    ...options,
  });
  clients.push(c);
  const seqs: number[] = [];
  const events: string[] = [];
  const phases: Phase[] = [];
  c.on('message', (d) => seqs.push((JSON.parse(String(d)) as { seq: number }).seq));
  c.on('rotate', ({ phase }) => {
    phases.push(phase);
    events.push(`rotate:${phase}`);
  });
  for (const e of ['disconnect', 'reconnecting', 'gap', 'giveup', 'stall', 'close'] as const) {
    c.on(e, () => events.push(e));
  }
  const switches = (): number => phases.filter((p) => p === 'switch').length;
  return { c, seqs, events, phases, switches };
}

const seqKey = (d: string | Buffer): unknown => (JSON.parse(String(d)) as { seq: number }).seq;

/** Indexes i where seqs[i] is not seqs[i-1] + 1, as readable strings. */
function breaks(seqs: number[]): string[] {
  const out: string[] = [];
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i] !== seqs[i - 1]! + 1) out.push(`#${i}: ${seqs[i - 1]} -> ${seqs[i]}`);
  }
  return out;
}

/** Numbers in [min, max] that never arrived. */
function missing(seqs: number[]): number[] {
  const have = new Set(seqs);
  const out: number[] = [];
  for (let n = Math.min(...seqs); n <= Math.max(...seqs); n++) if (!have.has(n)) out.push(n);
  return out;
}

/** Waits until `n` more messages arrived (the stream goes on). */
function moreMessages(c: WebSocketClient, seqs: number[], n: number): Promise<void> {
  const target = seqs.length + n;
  return until(c, 'message', () => seqs.length >= target, T, `${n} more messages`);
}

describe('rotation (make-before-break)', () => {
  it('with dedupeKey, delivers a strictly consecutive stream across 3 rotations; old connections close with 1000', async () => {
    const srv = await broadcaster();
    let r!: ReturnType<typeof rotating>;
    r = rotating(srv.url, {
      dedupeKey: seqKey,
      // On a replacement, wait for 3 messages of the old connection: both
      // connections then deliver the same numbers for a while (the overlap).
      onOpen: async (s) => {
        if (s.reason === 'rotate') await moreMessages(r.c, r.seqs, 3);
      },
    });
    await withTimeout(r.c.opened, T, 'open');
    await until(r.c, 'rotate', () => r.switches() >= 3, 10 * AGE_MS + T, '3 rotations');
    await moreMessages(r.c, r.seqs, 10);
    srv.stopBroadcast();
    // There were duplicates to drop: messagesIn counts them, 'message' does not.
    expect(r.c.stats().messagesIn).toBeGreaterThan(r.seqs.length);
    const eventsBeforeClose = [...r.events];
    await withTimeout(r.c.close(), T, 'close()');

    expect(r.seqs.length).toBeGreaterThan(100);
    expect(breaks(r.seqs)).toEqual([]);
    const switches = r.switches();
    expect(r.c.stats().rotations).toBe(switches);
    // Every rotation went start -> open -> switch -> done (the last one may
    // have been cut short by close()), none failed, no loss of the session.
    const completed = Array.from({ length: switches }, () => ['start', 'open', 'switch', 'done']).flat();
    expect(r.phases.slice(0, completed.length - 1)).toEqual(completed.slice(0, -1));
    expect(r.phases.length - completed.length).toBeLessThanOrEqual(0);
    expect(eventsBeforeClose.filter((e) => !e.startsWith('rotate:'))).toEqual([]);
    // One connection per rotation plus the first; each closed by the client with 1000.
    expect(srv.conns).toHaveLength(switches + 1);
    const closes = await withTimeout(Promise.all(srv.conns.map((k) => k.closed)), T, 'server-side closes');
    expect(closes.map((x) => x.code)).toEqual(srv.conns.map(() => 1000));
  }, 20_000);

  it('with dedupeKey, also drops what the old connection delivered between the start of the replacement and its open', async () => {
    // This server subscribes a connection when its upgrade request arrives:
    // the number broadcast then reaches the old connection before the 101 and
    // the new one right after it. The overlap starts with the replacement's
    // attempt ('start'), not with its open, and that copy is a duplicate too.
    const srv = await broadcaster({ subscribeOnRequest: true });
    const r = rotating(srv.url, { dedupeKey: seqKey });
    await withTimeout(r.c.opened, T, 'open');
    await until(r.c, 'rotate', () => r.switches() >= 3, 10 * AGE_MS + T, '3 rotations');
    await moreMessages(r.c, r.seqs, 10);
    expect(missing(r.seqs)).toEqual([]);
    expect(breaks(r.seqs)).toEqual([]);
  }, 20_000);

  it('runs onOpen on the replacement before the switch; the old connection closes after it', async () => {
    const srv = await broadcaster();
    let r!: ReturnType<typeof rotating>;
    let seqsAtOnOpenStart = 0;
    r = rotating(srv.url, {
      dedupeKey: seqKey,
      onOpen: async (s) => {
        s.send(`hello:${s.reason}`);
        if (s.reason === 'rotate') {
          r.events.push('onOpen:start');
          seqsAtOnOpenStart = r.seqs.length;
          // Meanwhile the old connection keeps delivering.
          await moreMessages(r.c, r.seqs, 5);
          s.send('after-wait');
          r.events.push('onOpen:end');
        }
      },
    });
    await withTimeout(r.c.opened, T, 'open');
    await until(r.c, 'rotate', () => r.switches() >= 1, 10 * AGE_MS + T, 'a rotation');
    await withTimeout(srv.conns[0]!.closed, T, 'old connection closed');

    expect(r.events.slice(0, 4)).toEqual(['rotate:start', 'rotate:open', 'onOpen:start', 'onOpen:end']);
    expect(r.events[4]).toBe('rotate:switch');
    expect(r.seqs.length).toBeGreaterThanOrEqual(seqsAtOnOpenStart + 5);
    expect(srv.conns[0]!.messages).toEqual(['hello:open']);
    expect(srv.conns[1]!.messages.slice(0, 2)).toEqual(['hello:rotate', 'after-wait']);
    expect(srv.conns[0]!.closeInfo?.code).toBe(1000);
    // Server-side order: the replacement's onOpen messages, then the old connection's close.
    const idx = (pred: (e: (typeof srv.log)[number]) => boolean): number => srv.log.findIndex(pred);
    const helloNew = idx((e) => e.kind === 'message' && e.conn === 2 && e.data === 'after-wait');
    const oldClosed = idx((e) => e.kind === 'close' && e.conn === 1);
    expect(helloNew).toBeGreaterThanOrEqual(0);
    expect(oldClosed).toBeGreaterThan(helloNew);

    await moreMessages(r.c, r.seqs, 10);
    expect(breaks(r.seqs)).toEqual([]);
  }, 20_000);

  it('without dedupeKey may repeat messages but leaves no gap', async () => {
    const srv = await broadcaster();
    const r = rotating(srv.url);
    await withTimeout(r.c.opened, T, 'open');
    await until(r.c, 'rotate', () => r.switches() >= 3, 10 * AGE_MS + T, '3 rotations');
    await moreMessages(r.c, r.seqs, 10);
    expect(r.seqs.length).toBeGreaterThan(100);
    expect(missing(r.seqs)).toEqual([]);
    expect(r.events.filter((e) => !e.startsWith('rotate:'))).toEqual([]);
    expect(r.c.stats().rotations).toBe(r.switches());
  }, 20_000);

  it('leaves no gap when the last messages only the old connection carries race the switch (several sessions)', async () => {
    // The server sends 3 numbers to the open connections right before each
    // 101: only the old connection carries them, and they arrive together
    // with the replacement's handshake. Other sessions rotating on the same
    // service thread vary the order in which their sockets are serviced. The
    // old connection's copies must be delivered, not dropped as "late".
    const srv = await broadcaster({ burstBeforeUpgrade: 3 });
    for (let i = 0; i < 3; i++) {
      const other = connect(srv.url, { heartbeat: false, maxConnectionAgeMs: 17 + 6 * i, maxConnectionAgeJitterPercent: 50 });
      clients.push(other);
    }
    const r = rotating(srv.url, { maxConnectionAgeMs: 25 });
    await withTimeout(r.c.opened, T, 'open');
    await until(r.c, 'rotate', () => r.switches() >= 100, 100 * 25 * 4 + T, '100 rotations');
    await moreMessages(r.c, r.seqs, 10);
    expect(missing(r.seqs)).toEqual([]);
    expect(r.events.filter((e) => !e.startsWith('rotate:'))).toEqual([]);
  }, 30_000);

  it("keeps the old connection delivering when the replacement is refused ('failed', no disconnect)", async () => {
    const srv = await broadcaster();
    const r = rotating(srv.url, { dedupeKey: seqKey });
    await withTimeout(r.c.opened, T, 'open');
    srv.refuse(503); // new connections only: the open one stays
    await until(r.c, 'rotate', () => r.phases.filter((p) => p === 'failed').length >= 2, 10 * AGE_MS + T, '2 failed rotations');
    const seqsAtFailure = r.seqs.length;
    await moreMessages(r.c, r.seqs, 20);
    expect(r.seqs.length).toBeGreaterThanOrEqual(seqsAtFailure + 20);
    expect(srv.refusals).toBeGreaterThanOrEqual(2);
    expect(r.c.state).toBe('open');
    expect(r.events.filter((e) => !e.startsWith('rotate:'))).toEqual([]);
    expect(r.phases).not.toContain('switch');
    expect(r.c.stats().rotations).toBe(0);
    expect(srv.conns).toHaveLength(1);
    expect(srv.conns[0]!.closeInfo).toBeUndefined();
    expect(breaks(r.seqs)).toEqual([]);

    // Accepted again: the next try rotates.
    srv.refuse(false);
    await until(r.c, 'rotate', () => r.switches() >= 1, 10 * AGE_MS + T, 'a rotation after the refusals');
    await withTimeout(srv.conns[0]!.closed, T, 'old connection closed');
    expect(srv.conns[0]!.closeInfo?.code).toBe(1000);
    await moreMessages(r.c, r.seqs, 10);
    expect(breaks(r.seqs)).toEqual([]);
    expect(r.events.filter((e) => !e.startsWith('rotate:'))).toEqual([]);
  }, 20_000);
});
