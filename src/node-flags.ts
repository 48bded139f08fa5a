/**
 * The gateway's node and V8 flags (src/constants.ts): which of GATEWAY_NODE_FLAGS the running
 * process was started without (`npm start` and the Docker image pass them; `node dist/server.js`
 * by hand does not, and the gateway then runs with Node's default young generation and V8 thread
 * pool, with a higher p99 under load), and RUNTIME_V8_FLAGS, which the executable sets on itself.
 */
import { setFlagsFromString } from 'node:v8';
import { GATEWAY_NODE_FLAGS, RUNTIME_V8_FLAGS } from './constants.js';

/**
 * The flags of GATEWAY_NODE_FLAGS named neither on node's command line (`execArgv`) nor in
 * NODE_OPTIONS. A flag given with another value counts as given: that is the operator's choice.
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = givenFlags(execArgv, nodeOptions);
  return GATEWAY_NODE_FLAGS.filter((flag) => !given.has(flagName(flag)));
}

/**
 * Sets RUNTIME_V8_FLAGS on this process, except those node's command line or NODE_OPTIONS names
 * (either way round, `--no-x` or `--x`: the operator's choice). Call it once at start-up, before
 * any load. Returns the flags set.
 */
export function applyRuntimeV8Flags(execArgv: readonly string[], nodeOptions: string | undefined, set: (flag: string) => void = setFlagsFromString): string[] {
  const given = givenFlags(execArgv, nodeOptions);
  const flags = RUNTIME_V8_FLAGS.filter((flag) => !given.has(flagName(flag)));
  for (const flag of flags) set(flag);
  return flags;
}

/** The names of the flags on node's command line and in NODE_OPTIONS. */
function givenFlags(execArgv: readonly string[], nodeOptions: string | undefined): Set<string> {
  return new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map(flagName));
}

/**
 * `--max-semi-space-size=64` → `--max-semi-space-size`; V8 accepts `_` for `-` in flag names, and
 * `--no-x` names the same flag as `--x`.
 */
function flagName(arg: string): string {
  return (arg.split('=')[0] as string).replaceAll('_', '-').replace(/^--no-/, '--');
}
