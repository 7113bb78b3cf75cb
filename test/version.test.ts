// lwsVersion is the libwebsockets release; lwsPatches our changes to it,
// read from the lws the addon was linked with (deps/patch-lws.py records them).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lwsPatches, lwsVersion } from './lib';

const root = join(__dirname, '..');

describe('versions', () => {
  it('lwsVersion is the pinned release alone (not suffixed with a git commit)', () => {
    const pinned = /^LWS_VERSION=(.+)$/m.exec(readFileSync(join(root, 'deps', 'lws.env'), 'utf8'))?.[1];
    expect(lwsVersion).toBe(pinned);
  });

  it('lwsPatches names every change deps/patch-lws.py makes, with the SHA-256 of that script', () => {
    const script = readFileSync(join(root, 'deps', 'patch-lws.py'));
    const marks = [...script.toString('utf8').matchAll(/^\w*MARK = "\/\* node-libwebsockets: (.+?) \*\/"$/gm)]
      .map((m) => m[1])
      .filter((name) => name !== 'patch set');
    expect(marks.length).toBeGreaterThan(0);
    expect([...lwsPatches.names].sort()).toEqual([...marks].sort());
    expect(lwsPatches.sha256).toBe(createHash('sha256').update(script).digest('hex'));
  });
});
