// The README's first command: the demo runs against its embedded server,
// recovers from every trick the server plays, and writes its report and chart.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('npm run demo', () => {
  it('notices each misbehaviour with what should notice it, recovers, loses no acknowledgement, and draws it', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nlws-demo-'));
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(__dirname, '..', 'demo', 'run.js'), '--seconds', '20', '--quiet', '--out', out],
        { timeout: 60_000 },
        (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(code, stderr).toBe(0);
    const table = stdout.slice(stdout.indexOf('Misbehaviours'), stdout.indexOf('Messages'));
    const rows = table.split('\n').filter((l) => /^\s+\d+ /.test(l));
    // Each misbehaviour noticed by what should notice it, and named.
    const expected: Array<[string, RegExp]> = [
      ['server drops the connection', /lost connection/],
      ['black hole (no data, no pongs)', /heartbeat/],
      ['stall (pongs, no data)', /stall watchdog/],
      ['503 + Retry-After', /lost connection, then HTTP 503/],
      ['token expired (401)', /lost connection, then HTTP 401/],
    ];
    expect(rows).toHaveLength(expected.length);
    expected.forEach(([label, detector], i) => {
      const row = rows[i] ?? '';
      expect(row).toContain(label);
      expect(row.slice(row.indexOf(label) + label.length)).toMatch(detector);
      expect(row).not.toContain('not detected');
    });
    expect(table).not.toContain('other outage');
    expect(stdout).toMatch(/stalls 1\b/);
    expect(stdout).toMatch(/lost: 0\b/);
    expect(stdout).toMatch(/upgrades refused: [1-9]\d* x 503, [1-9]\d* x 401/);
    const svg = fs.readFileSync(path.join(out, 'timeline.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    // The chart names each misbehaviour and what noticed it.
    for (const [label] of expected) expect(svg).toContain(label.replace(/&/g, '&amp;'));
    expect(svg).toContain('stall (pongs, no data): stall watchdog after');
    expect(svg).toContain('black hole (no data, no pongs): heartbeat after');
    fs.rmSync(out, { recursive: true, force: true });
  }, 90_000);
});
