// The README documents what users rely on, checked against the sources: every
// option the types declare (name, unit, default), every error code the
// sources can produce, every cause, every stats() field; the terms it uses are
// explained where they first appear; and its quick-start examples run as
// written. A code, cause, option or field added without documentation fails
// here.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CAUSES } from '../dist/cjs/wire.js';
import { startWsServer } from './helpers/ws-server';

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

/** The string literals of `export type <name> = | 'a' | 'b' ...;` in a TypeScript source. */
function union(file: string, name: string): string[] {
  const src = fs.readFileSync(path.join(root, 'lib', file), 'utf8');
  const start = src.indexOf(`export type ${name} =`);
  expect(start, `${name} in lib/${file}`).toBeGreaterThanOrEqual(0);
  const body = src.slice(start, src.indexOf(';', start));
  return [...body.matchAll(/'([^']+)'/g)].map((m) => m[1] as string);
}

/** A README section: from its heading to the next heading of the same or a higher level. */
function section(heading: string): string {
  const start = readme.indexOf(`${heading}\n`);
  expect(start, heading).toBeGreaterThanOrEqual(0);
  const level = /^#+/.exec(heading)?.[0].length ?? 2;
  const next = new RegExp(`^#{1,${level}} `, 'm');
  const rest = readme.slice(start + heading.length + 1);
  const m = next.exec(rest);
  return rest.slice(0, m ? m.index : rest.length);
}

/** The files below `dir` (subdirectories too) whose names match `ext`, with their text. */
function sources(dir: string, ext: RegExp): Array<[string, string]> {
  return (fs.readdirSync(path.join(root, dir), { recursive: true }) as string[])
    .filter((f) => ext.test(f) && fs.statSync(path.join(root, dir, f)).isFile())
    .map((f) => [`${dir}/${f}`, fs.readFileSync(path.join(root, dir, f), 'utf8')]);
}

describe('README: a fresh machine', () => {
  // Its first lines are what a newcomer and CI follow: the two commands must
  // be there, and what they name must exist.
  it('gives the demo and test commands in its first lines, and they exist', () => {
    const top = readme.split('\n').slice(0, 12).join('\n');
    expect(top).toContain('bash scripts/setup.sh && npm run demo');
    expect(top).toContain('bash scripts/setup.sh && npm test');
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(pkg.scripts.demo).toBeTruthy();
    expect(pkg.scripts.test).toBeTruthy();
    expect(fs.existsSync(path.join(root, 'scripts', 'setup.sh'))).toBe(true);
    const ci = fs.readFileSync(path.join(root, '.ci', 'run'), 'utf8');
    expect(ci).toContain('bash scripts/setup.sh');
    expect(ci).toMatch(/\bnpm test\b/);
  });
});

describe('README: architecture', () => {
  const table = section('## Architecture');
  // Every `path` in the table's second column, braces expanded (a.{h,cc}).
  const named = table
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| concern') && !l.startsWith('| ---'))
    .flatMap((l) => [...(l.split('|')[2] ?? '').matchAll(/`([\w./{},-]+)`/g)].map((m) => m[1] as string))
    .filter((p) => p.includes('/') || p.includes('.'))
    .flatMap((p) => {
      const m = /^(.*)\{([^}]+)\}$/.exec(p);
      return m ? (m[2] as string).split(',').map((ext) => `${m[1]}${ext}`) : [p];
    })
    .filter((p) => /^(lib|native|test)\/|^(CMakeLists\.txt|binding\.gyp)$/.test(p));

  it('names only files that exist', () => {
    expect(named.length).toBeGreaterThan(40);
    expect(named.filter((p) => !fs.existsSync(path.join(root, p)))).toEqual([]);
  });

  it('has every file of lib/ and native/', () => {
    const files = [...sources('lib', /\.ts$/), ...sources('native', /\.(cc|h|gypi|map)$/)].map(([file]) => file);
    expect(files.length).toBeGreaterThan(50);
    expect(files.filter((f) => !named.includes(f))).toEqual([]);
  });
});

describe('README: options', () => {
  const top = fields('options/types.ts', 'ConnectOptions');
  const nested: Array<[string, string, string]> = [
    ['heartbeat', 'options/types.ts', 'HeartbeatOptions'],
    ['reconnect', 'options/types.ts', 'ReconnectOptions'],
    ['queue', 'options/types.ts', 'QueueOptions'],
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

describe('README: error codes', () => {
  const declared = new Set([
    ...union('errors.ts', 'SystemErrorCode'),
    ...union('errors.ts', 'CertificateErrorCode'),
    ...union('errors.ts', 'ErrorCode'),
    ...union('errors.ts', 'ArgumentErrorCode'),
  ]);
  const errors = section('### Errors');

  // Literals in native code that look like codes but are not error codes.
  const NOT_CODES: Record<string, string> = {
    ERR_SSL_: 'the prefix of ERR_SSL_<ALERT>, built from the alert name',
    NLWS_SPIN_US: 'an environment variable',
    EAI_NONAME: "libuv's name for getaddrinfo's error, whose number ENOTFOUND reports (lib/errors.ts)",
  };
  const isCode = (s: string): boolean => /^(E[A-Z0-9]+|ERR_[A-Z0-9_]*|[A-Z0-9]+(_[A-Z0-9]+)+)$/.test(s) && !s.startsWith('LLL_');

  /** Every code-like string literal in the sources, with where it is. */
  const produced: Array<[string, string]> = [
    ...sources('native', /\.(cc|h)$/).flatMap(([file, text]) =>
      [...text.matchAll(/"([A-Z][A-Z0-9_]*)"/g)].map((m) => [m[1] as string, file] as [string, string]),
    ),
    ...sources('lib', /\.ts$/).flatMap(([file, text]) =>
      [...text.matchAll(/'((?:E|ERR_)[A-Z0-9_]*)'/g)].map((m) => [m[1] as string, file] as [string, string]),
    ),
  ].filter(([code]) => isCode(code) && !(code in NOT_CODES));

  it('finds the codes in the sources and the types', () => {
    expect(declared.size).toBeGreaterThan(50);
    expect(produced.length).toBeGreaterThan(50);
  });

  it('declares every code the sources can produce in the ErrorCode/ArgumentErrorCode unions (lib/errors.ts)', () => {
    const undeclared = produced.filter(([code]) => !declared.has(code)).map(([code, file]) => `${code} (${file})`);
    expect([...new Set(undeclared)]).toEqual([]);
  });

  it.each([...declared])('lists %s in the README\'s Errors table', (code) => {
    expect(errors).toContain(`\`${code}\``);
  });

  it('lists ERR_SSL_<ALERT> (alerts are named at run time)', () => {
    expect(errors).toContain('`ERR_SSL_<ALERT>`');
  });
});

describe('README: causes', () => {
  // test/wire.test.ts keeps lib/wire.ts's list equal to the native one.
  const typed = [...CAUSES];

  it.each(typed)('lists cause %s in the Causes table', (cause) => {
    expect(section('### Causes')).toMatch(new RegExp(`^\\| \`${cause}\` \\|`, 'm'));
  });
});

describe('README: stats()', () => {
  it.each(fields('stats.ts', 'Stats'))('documents field %s with its unit', (field) => {
    const row = section('### Session events, stats and metrics')
      .split('\n')
      .find((l) => l.startsWith('| ') && (l.split('|')[1] ?? '').includes(`\`${field}\``));
    expect(row, field).toBeDefined();
    expect((row ?? '').split('|')[2]?.trim()).not.toBe('');
  });
});

describe('README: terms', () => {
  const terms = section('### Terms');
  it.each([
    ['make-before-break', '**Rotation, make-before-break**'],
    ['black hole', '**Black hole**'],
    ['Secure Streams', '**Secure Streams policy**'],
  ])('explains "%s" in Terms, before any other use', (term, entry) => {
    expect(terms).toContain(entry);
    const termsAt = readme.indexOf('### Terms');
    expect(readme.slice(0, termsAt).toLowerCase()).not.toContain(term.toLowerCase());
  });
});

describe('README: the quick start', () => {
  const quick = section('## Quick start');
  const blocks = [...quick.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nlws-readme-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(root, path.join(dir, 'node_modules', 'node-libwebsockets'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['quickstart.mjs', 0],
    ['quickstart.cjs', 1],
  ])('%s runs as written against an echo server', async (file, index) => {
    const code = blocks[index];
    expect(code, `code block ${index}`).toBeDefined();
    fs.writeFileSync(path.join(dir, file), code as string);
    const server = await startWsServer({ echo: true });
    try {
      const { exit, stdout, stderr } = await new Promise<{ exit: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [file, server.url], { cwd: dir, timeout: 20_000 }, (error, out, err) =>
          resolve({ exit: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: out, stderr: err }),
        );
      });
      expect(exit, stderr).toBe(0);
      expect(stdout).toContain('received: {"hello":"world"}');
    } finally {
      await server.close();
    }
  }, 30_000);
});
