#!/usr/bin/env node
/**
 * `npm run build`: a clean TypeScript build of src/ into dist/ (removes dist/ first, so a deleted
 * source leaves no stale module behind), then makes the CLI executable and writes a stamp listing
 * what the build was made from.
 *
 * `npm start` runs this with --if-stale: when no file under src/, no tsconfig and not
 * package-lock.json changed since the last build (same file set, none newer than the stamp), the
 * build is skipped, so an unchanged checkout starts in well under a second instead of the ~10 s
 * (idle machine) a full tsc takes. Without dependencies installed it says what to run instead of
 * failing with `sh: tsc: not found`.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const dist = join(root, 'dist');
const stampFile = join(dist, '.build-stamp.json');
/** Inputs besides src/: a change here changes the output too. */
const INPUTS = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];

/** Every input file with its modification time (ms). */
function inputs() {
  const files = new Map();
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.set(relative(root, path), statSync(path).mtimeMs);
    }
  };
  walk(join(root, 'src'));
  for (const name of INPUTS) if (existsSync(join(root, name))) files.set(name, statSync(join(root, name)).mtimeMs);
  return files;
}

/** Why dist/ needs a build, or null when it is up to date. */
function staleReason(current) {
  if (!existsSync(join(dist, 'server.js'))) return 'no dist/server.js';
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(stampFile, 'utf8'));
  } catch {
    return 'no build stamp';
  }
  const before = new Map(Object.entries(stamp.files ?? {}));
  if (before.size !== current.size) return 'the set of source files changed';
  for (const [file, mtime] of current) {
    if (!before.has(file)) return `${file} is new`;
    if (before.get(file) !== mtime) return `${file} changed`;
  }
  return null;
}

const ifStale = process.argv.includes('--if-stale');
const current = inputs();
if (ifStale) {
  const reason = staleReason(current);
  if (reason === null) process.exit(0);
  console.error(`building dist/ (${reason})`);
}

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc)) {
  console.error('TypeScript is not installed: run `npm install` first (or `make start`, which installs and starts).');
  process.exit(1);
}
rmSync(dist, { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
chmodSync(join(dist, 'cli', 'index.js'), 0o755);
writeFileSync(stampFile, JSON.stringify({ files: Object.fromEntries(current) }));
