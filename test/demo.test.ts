// The README's first command: the demo runs against its embedded server,
// recovers from every trick the server plays, and writes its report and chart.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('npm run demo', () => {
  it('recovers from each misbehaviour, loses no acknowledgement, and draws the timeline', async () => {
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
    const outages = stdout.slice(stdout.indexOf('Outages'), stdout.indexOf('Messages'));
    // drop, black hole (or stall), 503 and 401 each cost a connection.
    expect(outages.split('\n').filter((l) => /^\s+\d+ /.test(l)).length).toBeGreaterThanOrEqual(4);
    expect(stdout).toMatch(/lost: 0\b/);
    expect(stdout).toMatch(/upgrades refused: [1-9]\d* x 503, [1-9]\d* x 401/);
    const svg = fs.readFileSync(path.join(out, 'timeline.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('outage');
    fs.rmSync(out, { recursive: true, force: true });
  }, 90_000);
});
