/**
 * scripts/build.mjs --if-stale (what `npm start` runs first): skips the build when nothing it
 * was built from changed, names what changed otherwise, and without TypeScript installed says
 * to run `npm install`. Run on a copy of the script in a scratch tree (no real tsc run).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'aicx-build-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

mkdirSync(join(dir, 'scripts'));
mkdirSync(join(dir, 'src'));
mkdirSync(join(dir, 'dist'));
copyFileSync(new URL('../../scripts/build.mjs', import.meta.url), join(dir, 'scripts', 'build.mjs'));
writeFileSync(join(dir, 'src', 'server.ts'), 'export {};\n');
writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
writeFileSync(join(dir, 'dist', 'server.js'), 'export {};\n');

const ifStale = () => spawnSync(process.execPath, [join(dir, 'scripts', 'build.mjs'), '--if-stale'], { encoding: 'utf8' });

/** Writes the stamp a successful build leaves: the inputs' current modification times. */
function stampAsBuilt(): void {
  const files = Object.fromEntries(['src/server.ts', 'package.json'].map((f) => [f, statSync(join(dir, f)).mtimeMs]));
  writeFileSync(join(dir, 'dist', '.build-stamp.json'), JSON.stringify({ files }));
}

describe('scripts/build.mjs --if-stale', () => {
  it('does nothing when no input changed since the stamped build', () => {
    stampAsBuilt();
    expect(ifStale()).toMatchObject({ status: 0, stdout: '', stderr: '' });
  });

  it('names the changed input, and without TypeScript installed says to run npm install (exit 1)', () => {
    stampAsBuilt();
    const later = new Date(Date.now() + 5000);
    utimesSync(join(dir, 'src', 'server.ts'), later, later);
    const r = ifStale();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('building dist/ (src/server.ts changed)');
    expect(r.stderr).toContain('TypeScript is not installed: run `npm install` first');
  });

  it('counts a new source file as a change', () => {
    stampAsBuilt();
    writeFileSync(join(dir, 'src', 'extra.ts'), 'export {};\n');
    expect(ifStale().stderr).toContain('building dist/ (the set of source files changed)');
    rmSync(join(dir, 'src', 'extra.ts'));
  });
});
