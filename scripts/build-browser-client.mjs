#!/usr/bin/env node
// Browser build of the agent client: bundles src/client/index.ts with esbuild into one ES module,
// dist-browser/aiconexus-client.js (+ .map), for a page to load with
//   <script type="module">import { GatewayClient, generateKeyPair } from './aiconexus-client.js';</script>
//
//   node scripts/build-browser-client.mjs [--outfile dist-browser/aiconexus-client.js] [--no-minify]
//
// The bundle must run on the browser's own WebSocket: the build fails when esbuild's metafile shows
// the `ws` package or any Node built-in (node:*, fs, crypto, …) in it.
//
// Why the `ws` stub: src/client/transport.ts falls back to `await import('ws')` when there is no
// global WebSocket (Node 20). Its webpackIgnore / @vite-ignore comments mean nothing to esbuild,
// which resolves 'ws' through the package's "browser" field to ws/browser.js (a module that only
// throws) and bundles it. In a browser that import is never reached, so the build swaps it for a
// stub that throws a clear error instead, and nothing of `ws` ends up in the bundle.
import { builtinModules } from 'node:module';
import { mkdir } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = resolve(root, 'src/client/index.ts');
export const DEFAULT_OUTFILE = resolve(root, 'dist-browser/aiconexus-client.js');

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

/**
 * Builds the browser bundle; throws when it would contain `ws` or a Node built-in.
 * @returns the output file, its size in bytes and the build time in ms.
 */
export async function buildBrowserClient({ outfile = DEFAULT_OUTFILE, minify = true } = {}) {
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
  return { outfile, bytes: output.bytes, ms: Date.now() - started };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({ options: { outfile: { type: 'string' }, 'no-minify': { type: 'boolean' } } });
  try {
    const { outfile, bytes, ms } = await buildBrowserClient({
      outfile: values.outfile ? resolve(values.outfile) : DEFAULT_OUTFILE,
      minify: !values['no-minify'],
    });
    console.log(`built ${relative(process.cwd(), outfile)} (${(bytes / 1024).toFixed(1)} KiB) in ${ms} ms`);
  } catch (err) {
    console.error(`build-browser-client: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
