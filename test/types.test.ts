/**
 * The published types, compiled with tsc as a user's project would:
 * test/types/compiles.ts must compile and each test/types/fails-*.ts must
 * fail with the error its `// expect-error TSnnnn` comment names, on that
 * line, under the oldest and the newest @types/node we support (installed
 * as types-node-oldest and types-node-newest). And test/ itself type-checks.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '..');
const fixtures = join(__dirname, 'types');
const typeRootsDir = mkdtempSync(join(tmpdir(), 'nlws-types-'));
afterAll(() => rmSync(typeRootsDir, { recursive: true, force: true }));

const TYPES_NODE = ['types-node-oldest', 'types-node-newest'] as const;

/** A typeRoots folder whose `node` is the given @types/node. */
function typeRootsFor(pkg: string): string {
  const dir = join(typeRootsDir, pkg);
  try {
    readdirSync(dir);
  } catch {
    execFileSync('mkdir', ['-p', dir]);
    symlinkSync(join(root, 'node_modules', pkg), join(dir, 'node'));
  }
  return dir;
}

function versionOf(pkg: string): string {
  return (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
}

interface Found {
  file: string;
  line: number;
  code: string;
  text: string;
}

/**
 * Diagnostics of compiling every fixture (each a module of its own) in one
 * program against the package's dist/ types, by file; those inside
 * @types/node itself are left out.
 */
function compileAll(pkg: string): Map<string, Found[]> {
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    lib: ['lib.es2022.d.ts'],
    types: ['node'],
    typeRoots: [typeRootsFor(pkg)],
    esModuleInterop: true,
    skipLibCheck: false,
    paths: { 'node-libwebsockets': [join(root, 'dist', 'cjs', 'index.d.ts')] },
  };
  const files = readdirSync(fixtures).map((f) => join(fixtures, f));
  const program = ts.createProgram(files, options);
  const typesNode = join(root, 'node_modules', pkg);
  const byFile = new Map<string, Found[]>(readdirSync(fixtures).map((f) => [`test/types/${f}`, []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    if (d.file && d.file.fileName.startsWith(typesNode)) continue;
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    const file = d.file ? d.file.fileName.replace(`${root}/`, '') : '';
    const found = { file, line: where ? where.line + 1 : 0, code: `TS${d.code}`, text: ts.flattenDiagnosticMessageText(d.messageText, '\n') };
    // Errors in our own .d.ts (or anywhere else) count against compiles.ts.
    const key = byFile.has(file) ? file : 'test/types/compiles.ts';
    byFile.get(key)!.push(found);
  }
  return byFile;
}

const failing = readdirSync(fixtures).filter((f) => f.startsWith('fails-'));

describe.each(TYPES_NODE)('with %s', (pkg) => {
  let results: Map<string, Found[]> | undefined;
  const results_ = (): Map<string, Found[]> => (results ??= compileAll(pkg));

  it(`compiles test/types/compiles.ts (@types/node ${versionOf(pkg)})`, () => {
    expect(results_().get('test/types/compiles.ts')).toEqual([]);
  }, 120_000);

  it.each(failing)('refuses test/types/%s with the expected error on the marked line', (name) => {
    const lines = readFileSync(join(fixtures, name), 'utf8').split('\n');
    const expected = lines
      .map((l, i) => ({ line: i + 1, m: /\/\/ expect-error (TS\d+)/.exec(l) }))
      .filter((x) => x.m)
      .map((x) => ({ file: `test/types/${name}`, line: x.line, code: x.m![1] }));
    expect(expected.length).toBeGreaterThan(0);
    const found = (results_().get(`test/types/${name}`) ?? []).map(({ file, line, code }) => ({ file, line, code }));
    expect(found).toEqual(expected);
  }, 120_000);
});

describe('test/', () => {
  it('type-checks (tsconfig.test.json)', () => {
    const tsc = require.resolve('typescript/bin/tsc', { paths: [root] });
    let out = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.test.json')], { cwd: root, encoding: 'utf8' });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? e);
    }
    expect(out).toBe('');
  }, 120_000);
});
