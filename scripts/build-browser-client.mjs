#!/usr/bin/env node
// Browser build of the agent client: bundles src/client/index.ts with esbuild into one ES module,
// dist-browser/aiconexus-client.js (+ .map), for a page to load with
//   <script type="module">import { GatewayClient, generateKeyPair } from './aiconexus-client.js';</script>
//
//   node scripts/build-browser-client.mjs [--outfile dist-browser/aiconexus-client.js] [--no-minify]
//                                         [--max-kib N] [--max-gzip-kib N]
//
// The bundle must run on the browser's own WebSocket: the build fails when esbuild's metafile shows
// the `ws` package or any Node built-in (node:*, fs, crypto, …) in it.
//
// Size budget: the minified bundle must stay within BUDGET (100 KiB, and 30 KiB gzipped; the
// reasons and the measurements are in docs/client.md, "Browser bundle size"). Over it, the build
// fails naming the packages and files that take the most room (from the metafile) and leaves the
// metafile next to the bundle (<outfile>.meta.json) for https://esbuild.github.io/analyze/.
// --max-kib / --max-gzip-kib override the budget for one run (the test of the failure message
// uses them); --no-minify skips the check, whose figures are for the minified bundle.
//
// Why the `ws` stub: src/client/transport.ts falls back to `await import('ws')` when there is no
// global WebSocket (Node 20). Its webpackIgnore / @vite-ignore comments mean nothing to esbuild,
// which resolves 'ws' through the package's "browser" field to ws/browser.js (a module that only
// throws) and bundles it. In a browser that import is never reached, so the build swaps it for a
// stub that throws a clear error instead, and nothing of `ws` ends up in the bundle.
import { builtinModules } from 'node:module';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = resolve(root, 'src/client/index.ts');
export const DEFAULT_OUTFILE = resolve(root, 'dist-browser/aiconexus-client.js');

/**
 * Size budget of the minified bundle, in bytes: the file as written (source-map comment and
 * legal comments included), and the same file gzipped at level 9. About what peerjs weighs
 * (85 KiB / 22 KiB) although this client also carries Ed25519, SHA-512 and did:key; measured
 * at 76 KiB / 27.5 KiB with the frame schemas in zod/mini (docs/client.md).
 */
export const BUDGET = Object.freeze({ minifiedBytes: 100 * 1024, gzipBytes: 30 * 1024 });

const builtins = new Set(builtinModules);
const isNodeBuiltin = (path) => path.startsWith('node:') || builtins.has(path) || builtins.has(path.split('/')[0]);
const isWs = (path) => path === 'ws' || path.startsWith('ws/') || /(^|\/)node_modules\/ws\//.test(path);

/** Replaces the client's lazy `import('ws')` (Node 20 fallback) with a module that throws. */
const wsStub = {
  name: 'aiconexus-ws-stub',
  setup(build) {
    build.onResolve({ filter: /^ws$/ }, () => ({ path: 'ws', namespace: 'aiconexus-ws-stub' }));
    build.onLoad({ filter: /.*/, namespace: 'aiconexus-ws-stub' }, () => ({
      contents:
        "throw new Error('aiconexus-client (browser build): there is no global WebSocket here; pass one as the WebSocket option of GatewayClient');",
      loader: 'js',
    }));
  },
};

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;

/** What an input of the metafile belongs to: its npm package, else its folder under src/. */
function ownerOf(input) {
  const pkg = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (pkg) return pkg[1];
  const parts = input.split('/');
  return parts[0] === 'src' && parts.length > 2 ? `${parts[0]}/${parts[1]}/` : input;
}

/** The largest contributors to one output of the metafile: by package / src folder, and by file. */
export function biggestInputs(output, count = 8) {
  const files = Object.entries(output.inputs)
    .map(([path, { bytesInOutput }]) => ({ path, bytes: bytesInOutput }))
    .filter((f) => f.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes);
  const byOwner = new Map();
  for (const f of files) {
    const owner = ownerOf(f.path);
    const entry = byOwner.get(owner) ?? { owner, bytes: 0, files: 0 };
    entry.bytes += f.bytes;
    entry.files += 1;
    byOwner.set(owner, entry);
  }
  const owners = [...byOwner.values()].sort((a, b) => b.bytes - a.bytes);
  return { owners: owners.slice(0, count), files: files.slice(0, count) };
}

/** The error text of a bundle over its budget. */
function overBudgetMessage({ bytes, gzipBytes, budget, output, metafilePath }) {
  const over = [];
  if (bytes > budget.minifiedBytes) over.push(`${kib(bytes)} minified (budget ${kib(budget.minifiedBytes)})`);
  if (gzipBytes > budget.gzipBytes) over.push(`${kib(gzipBytes)} gzipped (budget ${kib(budget.gzipBytes)})`);
  const { owners, files } = biggestInputs(output);
  return [
    `browser bundle over its size budget: ${over.join(', ')}.`,
    'Biggest inputs by package (bytes each adds to the minified bundle):',
    ...owners.map((o) => `  ${kib(o.bytes).padStart(10)}  ${o.owner} (${o.files} file${o.files === 1 ? '' : 's'})`),
    'Biggest files:',
    ...files.map((f) => `  ${kib(f.bytes).padStart(10)}  ${f.path}`),
    `Metafile for https://esbuild.github.io/analyze/: ${relative(process.cwd(), metafilePath)}.`,
    "Usual cause: code the client imports uses `zod` (or a zod namespace such as z.core or z.locales) instead of 'zod/mini'; see docs/client.md, \"Browser bundle size\".",
  ].join('\n  ');
}

/**
 * Builds the browser bundle; throws when it would contain `ws` or a Node built-in, or when the
 * minified bundle is over `budget` (default {@link BUDGET}; not checked without `minify`).
 * @returns the output file, its size in bytes (as written and gzipped), the budget checked (null
 * without minify) and the build time in ms.
 */
export async function buildBrowserClient({ outfile = DEFAULT_OUTFILE, minify = true, budget = BUDGET } = {}) {
  const started = Date.now();
  await mkdir(dirname(outfile), { recursive: true });
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile,
    absWorkingDir: root,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    sourcemap: true,
    metafile: true,
    legalComments: 'eof',
    logLevel: 'silent',
    plugins: [wsStub],
  });
  const problems = [];
  for (const [input, info] of Object.entries(result.metafile.inputs)) {
    if (isWs(input) || isNodeBuiltin(input)) problems.push(`bundled ${input}`);
    for (const imp of info.imports) {
      if (isNodeBuiltin(imp.path) || isWs(imp.path)) {
        problems.push(`${input} imports ${imp.path} (${imp.kind}${imp.external ? ', external' : ''})`);
      } else if (imp.path === 'aiconexus-ws-stub:ws' && imp.kind !== 'dynamic-import') {
        // Only the lazy fallback may name `ws`: a static import would run the stub (and throw) at load.
        problems.push(`${input} imports ws statically (${imp.kind}); the browser build only tolerates the lazy import('ws') fallback`);
      }
    }
  }
  const outKey = relative(root, outfile).split('\\').join('/');
  const output = result.metafile.outputs[outKey];
  if (!output) throw new Error(`esbuild metafile has no output ${outKey}`);
  for (const imp of output.imports) problems.push(`the bundle still imports ${imp.path} (${imp.kind})`);
  if (problems.length > 0) {
    throw new Error(`browser bundle must not use ws or Node built-ins:\n  ${problems.join('\n  ')}`);
  }
  const bytes = output.bytes;
  const gzipBytes = gzipSync(await readFile(outfile), { level: 9 }).length;
  const checked = minify ? budget : null;
  const metafilePath = `${outfile}.meta.json`;
  if (checked && (bytes > checked.minifiedBytes || gzipBytes > checked.gzipBytes)) {
    await writeFile(metafilePath, JSON.stringify(result.metafile));
    throw new Error(overBudgetMessage({ bytes, gzipBytes, budget: checked, output, metafilePath }));
  }
  await rm(metafilePath, { force: true }); // one a failed build left
  return { outfile, bytes, gzipBytes, budget: checked, ms: Date.now() - started };
}

/** A --max-kib style option as bytes (a positive number of KiB), or the default. */
function kibOption(name, value, fallback) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number of KiB (got ${JSON.stringify(value)})`);
  return Math.floor(n * 1024);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    const { values } = parseArgs({
      options: {
        outfile: { type: 'string' },
        'no-minify': { type: 'boolean' },
        'max-kib': { type: 'string' },
        'max-gzip-kib': { type: 'string' },
      },
    });
    const budget = {
      minifiedBytes: kibOption('max-kib', values['max-kib'], BUDGET.minifiedBytes),
      gzipBytes: kibOption('max-gzip-kib', values['max-gzip-kib'], BUDGET.gzipBytes),
    };
    const { outfile, bytes, gzipBytes, budget: checked, ms } = await buildBrowserClient({
      outfile: values.outfile ? resolve(values.outfile) : DEFAULT_OUTFILE,
      minify: !values['no-minify'],
      budget,
    });
    const within = checked ? `within budget ${kib(checked.minifiedBytes)} / ${kib(checked.gzipBytes)} gzipped` : 'not minified: no budget check';
    console.log(`built ${relative(process.cwd(), outfile)}: ${kib(bytes)}, ${kib(gzipBytes)} gzipped (${within}) in ${ms} ms`);
  } catch (err) {
    console.error(`build-browser-client: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
