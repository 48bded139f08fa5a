/**
 * What each part of an idle gateway costs in resident memory (issue "latency tail", idle RSS).
 *
 *   npm run build && npm run bench:idle-rss [-- --settle-ms 30000]
 *
 * Each step is a fresh `node` process (the node running this script, so run it under the Node
 * major to measure, e.g. `scripts/with-node.sh 22 npm run bench:idle-rss`) that loads one more
 * part than the step before: node itself, then each dependency the gateway loads at start, then
 * the gateway's own modules (dist/app.js), then buildApp + listen, then `node dist/server.js` as
 * it runs in production. Every process idles for the same settle time (V8 gives back the young
 * generation it grew while loading once its memory reducer runs, 4–25 s after start here) and then reports its RSS split
 * into file-backed pages (the node binary's code and data that were touched) and anonymous memory
 * (heaps, stacks, malloc), and its JS heap in use. No forced garbage collection: a forced one
 * grows V8's reserve and would make every step look larger than the real server.
 * The steps run at the same time, in separate processes, so one run takes about the settle time.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { intOption, optionsOrExit, parseCommandLine } from '../scripts/lib/args.js';
import { GATEWAY_NODE_FLAGS } from '../src/constants.js';
import { ROOT } from './lib/compile.js';

const USAGE = 'usage: npm run bench:idle-rss [-- --settle-ms N]   (after npm run build; default 30000 ms)';

interface Step {
  label: string;
  /** ES module code run before the process idles; imports are resolved from the repository root. */
  code: string;
  env?: Record<string, string>;
  /** Node flags of the process (the production entry gets those npm start passes). */
  nodeFlags?: readonly string[];
}

const app = join(ROOT, 'dist', 'app.js');
const config = join(ROOT, 'dist', 'config.js');
const server = join(ROOT, 'dist', 'server.js');

/** Packages in the order the gateway's modules load them; each step adds one group. */
const PACKAGES: [string, string[]][] = [
  ['fastify', ['fastify']],
  ['@fastify/websocket and ws', ['@fastify/websocket', 'ws']],
  ['@fastify/rate-limit', ['@fastify/rate-limit']],
  ['zod 4 (zod and zod/mini)', ['zod', 'zod/mini']],
  ['prom-client', ['prom-client']],
  ['pino', ['pino']],
  ['@noble/ed25519, @noble/hashes, @scure/base, close-with-grace', ['@noble/ed25519', '@noble/hashes/sha2.js', '@scure/base', 'close-with-grace']],
];

function steps(): Step[] {
  const out: Step[] = [{ label: 'node itself', code: '' }];
  const loaded: string[] = [];
  for (const [label, specifiers] of PACKAGES) {
    loaded.push(...specifiers);
    out.push({ label: `+ ${label}`, code: loaded.map((s) => `await import(${JSON.stringify(s)});`).join('\n') });
  }
  const imports = loaded.map((s) => `await import(${JSON.stringify(s)});`).join('\n');
  out.push({ label: '+ the gateway\'s own modules (dist/app.js)', code: `${imports}\nawait import(${JSON.stringify(app)});` });
  out.push({
    label: '+ buildApp(config) and listen',
    code: `${imports}\nconst { buildApp } = await import(${JSON.stringify(app)});\nconst { loadConfig } = await import(${JSON.stringify(config)});\nconst a = await buildApp(loadConfig({ ...process.env, GATEWAY_PORT: '0', LOG_LEVEL: 'warn' }));\nawait a.listen({ host: '127.0.0.1', port: 0 });`,
  });
  out.push({ label: '`node dist/server.js` (production entry)', code: `await import(${JSON.stringify(server)});`, env: { GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: '0', LOG_LEVEL: 'warn' }, nodeFlags: GATEWAY_NODE_FLAGS });
  return out;
}

interface Reading {
  rssKB: number;
  anonKB: number;
  fileKB: number;
  heapUsed: number;
  /** Pages of V8's young generation (new space) in RSS: grown while loading, given back when V8's memory reducer runs. */
  youngKB: number;
}

/** Runs one step: loads, idles `settleMs`, prints its /proc/self/status split and heap as one JSON line. */
function measure(step: Step, settleMs: number): Promise<Reading> {
  const code = `${step.code}
setTimeout(async () => {
  const { readFileSync } = await import('node:fs');
  const v8 = await import('node:v8');
  const young = v8.getHeapSpaceStatistics().filter((x) => x.space_name === 'new_space' || x.space_name === 'new_large_object_space').reduce((n, x) => n + x.physical_space_size, 0);
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number(new RegExp('^' + k + ':\\\\s+(\\\\d+)', 'm').exec(status)?.[1] ?? NaN);
  process.stdout.write('\\nIDLE-RSS ' + JSON.stringify({ rssKB: kb('VmRSS'), anonKB: kb('RssAnon'), fileKB: kb('RssFile') + kb('RssShmem'), heapUsed: process.memoryUsage().heapUsed, youngKB: young / 1024 }) + '\\n');
  process.exit(0);
}, ${settleMs});
setInterval(() => {}, 60_000);`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(step.nodeFlags ?? []), '--input-type=module', '-e', code], { cwd: ROOT, env: { ...process.env, ...step.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (codeOrNull) => {
      const line = /IDLE-RSS (.*)/.exec(out)?.[1];
      if (codeOrNull === 0 && line) resolve(JSON.parse(line) as Reading);
      else reject(new Error(`step "${step.label}" failed (exit ${codeOrNull}): ${err.trim().slice(0, 500)}`));
    });
  });
}

const mb = (kb: number) => (kb / 1024).toFixed(1);
const signed = (kb: number) => `${kb >= 0 ? '+' : '−'}${mb(Math.abs(kb))}`;

async function main(): Promise<void> {
  const values = optionsOrExit({ program: 'bench:idle-rss', usage: USAGE, help: USAGE }, (argv) => {
    const v = parseCommandLine({ 'settle-ms': { type: 'string', default: '30000' }, help: { type: 'boolean', default: false } }, argv);
    return v.help ? null : { settleMs: intOption('settle-ms', v['settle-ms'], 1000, 120_000) };
  });
  if (!existsSync(server)) throw new Error('dist/ is missing: run `npm run build` first');
  const list = steps();
  process.stderr.write(`idle RSS, Node ${process.versions.node}: ${list.length} processes, each idle ${values.settleMs / 1000} s after loading…\n`);
  const readings = await Promise.all(list.map((s) => measure(s, values.settleMs)));
  const rows = list.map((s, i) => {
    const r = readings[i] as Reading;
    // The production entry is compared with node itself; every other step with the one before it.
    const prev = readings[i === list.length - 1 ? 0 : Math.max(0, i - 1)] as Reading;
    const delta = (a: number, b: number) => (i === 0 ? '' : signed(a - b));
    const other = (x: Reading) => x.anonKB - x.youngKB;
    return [s.label, mb(r.rssKB), delta(r.rssKB, prev.rssKB), mb(r.fileKB), delta(r.fileKB, prev.fileKB), mb(r.youngKB), mb(other(r)), delta(other(r), other(prev)), (r.heapUsed / 1048576).toFixed(1)];
  });
  const head = ['loaded', 'RSS MB', 'Δ', 'file-backed', 'Δ', 'young gen', 'other anonymous', 'Δ', 'JS heap used'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] as string).length)));
  const line = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c] as number) : v.padStart(widths[c] as number))).join('  ');
  process.stdout.write(`${line(head)}\n${line(widths.map((w) => '-'.repeat(w)))}\n${rows.map(line).join('\n')}\n`);
  process.stdout.write(
    'Δ: against the row above; for the production entry, against node itself. MB = 2^20 bytes. Young gen: V8\'s new space as\n' +
      'resident when read (grown while loading; how much V8 has given back after the settle time varies from process to process).\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:idle-rss: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
