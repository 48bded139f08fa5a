/**
 * The node flags the gateway needs (GATEWAY_NODE_FLAGS): every launcher passes them, and the
 * start-up check finds the ones a process was started without.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GATEWAY_NODE_FLAGS, RUNTIME_V8_FLAGS, V8_POOL_SIZE, YOUNG_SEMI_SPACE_MB } from '../../src/constants.js';
import { applyRuntimeV8Flags, missingNodeFlags } from '../../src/node-flags.js';
import { wordsOption } from '../../scripts/lib/args.js';

const root = new URL('../..', import.meta.url).pathname;
const read = (path: string) => readFileSync(root + path, 'utf8');

/** The words of a command between `node` and the entry script. */
function flagsBefore(command: string[], entry: string): string[] {
  const node = command.indexOf('node');
  const script = command.indexOf(entry);
  expect(node, `no node in ${JSON.stringify(command)}`).toBeGreaterThanOrEqual(0);
  expect(script, `no ${entry} in ${JSON.stringify(command)}`).toBeGreaterThan(node);
  return command.slice(node + 1, script);
}

describe('node flags', () => {
  it('are the semi-space size and the V8 pool size of the constants module', () => {
    expect(GATEWAY_NODE_FLAGS).toEqual([`--max-semi-space-size=${YOUNG_SEMI_SPACE_MB}`, `--v8-pool-size=${V8_POOL_SIZE}`]);
  });

  it('npm start and npm run dev pass every one of them to node', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(flagsBefore((scripts.start as string).split(/\s+/), 'dist/server.js')).toEqual(expect.arrayContaining([...GATEWAY_NODE_FLAGS]));
    // tsx passes node's flags on to node.
    const dev = (scripts.dev as string).split(/\s+/);
    expect(dev.slice(0, 2)).toEqual(['tsx', 'watch']);
    expect(dev.slice(2, dev.indexOf('src/server.ts'))).toEqual(expect.arrayContaining([...GATEWAY_NODE_FLAGS]));
  });

  it("the Docker image's CMD passes every one of them to node", () => {
    const cmdLine = read('docker/Dockerfile')
      .split('\n')
      .filter((l) => l.startsWith('CMD '))
      .at(-1) as string;
    const cmd = JSON.parse(cmdLine.slice(4)) as string[];
    expect(flagsBefore(cmd, 'dist/server.js')).toEqual(expect.arrayContaining([...GATEWAY_NODE_FLAGS]));
  });

  it('the start-up check names the flags missing from the command line and NODE_OPTIONS', () => {
    expect(missingNodeFlags([], undefined)).toEqual([...GATEWAY_NODE_FLAGS]);
    expect(missingNodeFlags(['--import', 'tsx'], '--enable-source-maps')).toEqual([...GATEWAY_NODE_FLAGS]);
    // Unrelated flags that share a prefix do not count.
    expect(missingNodeFlags(['--max-semi-space-size-x=64', '--max-old-space-size=64'], '')).toEqual([...GATEWAY_NODE_FLAGS]);
    expect(missingNodeFlags([...GATEWAY_NODE_FLAGS], undefined)).toEqual([]);
    expect(missingNodeFlags([], ` --enable-source-maps  ${GATEWAY_NODE_FLAGS.join(' ')} `)).toEqual([]);
    // Another value is the operator's choice; V8 spells flags with _ or -. Each flag counts alone.
    expect(missingNodeFlags(['--max-semi-space-size=32', '--v8-pool-size=4'], undefined)).toEqual([]);
    expect(missingNodeFlags([], '--max_semi_space_size=128 --v8_pool_size=2')).toEqual([]);
    expect(missingNodeFlags(['--max-semi-space-size=32'], undefined)).toEqual([`--v8-pool-size=${V8_POOL_SIZE}`]);
    expect(missingNodeFlags([], '--v8-pool-size=1')).toEqual([`--max-semi-space-size=${YOUNG_SEMI_SPACE_MB}`]);
  });

  it('the executable sets the runtime V8 flags on itself, unless the command line or NODE_OPTIONS names them', () => {
    expect(RUNTIME_V8_FLAGS).toEqual(['--no-allocation-site-pretenuring']);
    const setter = () => {
      const set: string[] = [];
      return { set, fn: (flag: string) => void set.push(flag) };
    };
    const a = setter();
    expect(applyRuntimeV8Flags([...GATEWAY_NODE_FLAGS, '--import', 'tsx'], '--enable-source-maps', a.fn)).toEqual([...RUNTIME_V8_FLAGS]);
    expect(a.set).toEqual([...RUNTIME_V8_FLAGS]);
    // Named either way round, on the command line or in NODE_OPTIONS (V8 spells - or _): left as given.
    for (const [argv, env] of [
      [['--allocation-site-pretenuring'], undefined],
      [['--no-allocation-site-pretenuring'], undefined],
      [[], '--allocation_site_pretenuring'],
    ] as const) {
      const b = setter();
      expect(applyRuntimeV8Flags(argv, env, b.fn)).toEqual([]);
      expect(b.set).toEqual([]);
    }
    // src/server.ts and bench/server.ts (the bench's stand-in for it) call it before any load.
    for (const file of ['src/server.ts', 'bench/server.ts']) {
      const text = read(file);
      expect(text.indexOf('applyRuntimeV8Flags(process.execArgv, process.env.NODE_OPTIONS)'), file).toBeGreaterThan(0);
      expect(text.indexOf('applyRuntimeV8Flags(process.execArgv'), file).toBeLessThan(text.search(/buildApp\(config\)|serve\(config\)/));
    }
  });

  it('extra flags for the bench and attack gateways come as one space-separated argument', () => {
    expect(wordsOption(undefined)).toEqual([]);
    expect(wordsOption('  ')).toEqual([]);
    expect(wordsOption(' --max-semi-space-size=16  --trace-gc ')).toEqual(['--max-semi-space-size=16', '--trace-gc']);
  });
});
