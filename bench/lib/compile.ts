/**
 * Transpiles src/ and bench/ to plain JavaScript under node_modules/.cache/aiconexus-bench, so the
 * processes under test run on plain `node`, as in production (`npm start` runs dist/ on plain node).
 *
 * Why not `node --import tsx` for the children: tsx's loader hooks run in an extra thread with its
 * own V8 isolate, which adds ~30 MB RSS to the process. That would swamp the idle-RSS figure the
 * capacity scenario reports. Transpiling (typescript.transpileModule, no type-check: `npm run
 * typecheck` does that) emits the same JavaScript as `npm run build`, takes ~2 s, and reads the
 * working tree at run time, so uncommitted work is what gets measured. `--tsx` skips this.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where the transpiled tree goes (node_modules is gitignored, and bare imports resolve from it). */
export const BUILD_DIR = join(ROOT, 'node_modules', '.cache', 'aiconexus-bench');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'results' && entry.name !== 'node_modules') out.push(...tsFiles(path));
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      out.push(path);
    }
  }
  return out;
}

/**
 * Transpiles src/**\/*.ts and bench/**\/*.ts into {@link BUILD_DIR}; returns the file count, the
 * time taken, and whether the previous output was reused (same files, sizes and mtimes).
 */
export async function compileForBench(): Promise<{ dir: string; files: number; ms: number; reused: boolean }> {
  const started = performance.now();
  const files = [...tsFiles(join(ROOT, 'src')), ...tsFiles(join(ROOT, 'bench')), join(ROOT, 'package.json')];
  const manifest = JSON.stringify(files.map((f) => [relative(ROOT, f), statSync(f).mtimeMs, statSync(f).size]));
  const manifestFile = join(BUILD_DIR, 'manifest.json');
  if (existsSync(manifestFile) && readFileSync(manifestFile, 'utf8') === manifest) {
    return { dir: BUILD_DIR, files: files.length - 1, ms: performance.now() - started, reused: true };
  }
  files.pop();
  const { default: ts } = await import('typescript');
  rmSync(BUILD_DIR, { recursive: true, force: true });
  for (const file of files) {
    const { outputText, diagnostics } = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      reportDiagnostics: true,
      compilerOptions: {
        // ES module output with the imports as written (the sources use explicit .js specifiers).
        module: ts.ModuleKind.ES2022,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
        isolatedModules: true,
        sourceMap: false,
      },
    });
    if (diagnostics && diagnostics.length > 0) {
      const text = ts.flattenDiagnosticMessageText(diagnostics[0]?.messageText ?? '', '\n');
      throw new Error(`cannot transpile ${relative(ROOT, file)}: ${text}`);
    }
    const out = join(BUILD_DIR, relative(ROOT, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
  // "type": "module" for the .js files, and the version src/app.ts reads from ../package.json.
  writeFileSync(join(BUILD_DIR, 'package.json'), readFileSync(join(ROOT, 'package.json')));
  writeFileSync(manifestFile, manifest);
  return { dir: BUILD_DIR, files: files.length, ms: performance.now() - started, reused: false };
}
