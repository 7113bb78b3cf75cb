// The README documents every option the types declare (name, unit, default).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');

/** Property names of `interface <name> { ... }` in a TypeScript source. */
function fields(file: string, name: string): string[] {
  const src = fs.readFileSync(path.join(root, 'lib', file), 'utf8');
  const start = src.indexOf(`export interface ${name} {`);
  expect(start, `${name} in lib/${file}`).toBeGreaterThanOrEqual(0);
  const body = src.slice(start, src.indexOf('\n}', start));
  return [...body.matchAll(/^ {2}(?:readonly )?(\w+)\??:/gm)].map((m) => m[1] as string);
}

describe('README', () => {
  const top = fields('options.ts', 'ConnectOptions');
  const nested: Array<[string, string, string]> = [
    ['heartbeat', 'policy.ts', 'HeartbeatOptions'],
    ['reconnect', 'policy.ts', 'ReconnectOptions'],
    ['queue', 'policy.ts', 'QueueOptions'],
  ];

  it('finds the options in the types', () => {
    expect(top.length).toBeGreaterThan(30);
  });

  it.each(top)('documents option %s in an options table', (name) => {
    expect(readme).toMatch(new RegExp(`^\\| \`${name}\`[^|]*\\|`, 'm'));
  });

  it.each(nested.flatMap(([parent, file, iface]) => fields(file, iface).map((f) => `${parent}.${f}`)))(
    'documents option %s in an options table',
    (name) => {
      expect(readme).toMatch(new RegExp(`^\\| \`${name.replace('.', '\\.')}\` \\|`, 'm'));
    },
  );
});
