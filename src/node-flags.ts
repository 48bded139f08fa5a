/**
 * Which of GATEWAY_NODE_FLAGS the running process was started without. `npm start` and the Docker
 * image pass them; `node dist/server.js` by hand does not, and the gateway then runs with Node's
 * default young generation, with a p99 several times higher under load (src/constants.ts).
 */
import { GATEWAY_NODE_FLAGS } from './constants.js';

/**
 * The flags of GATEWAY_NODE_FLAGS named neither on node's command line (`execArgv`) nor in
 * NODE_OPTIONS. A flag given with another value counts as given: that is the operator's choice.
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map(flagName));
  return GATEWAY_NODE_FLAGS.filter((flag) => !given.has(flagName(flag)));
}

/** `--max-semi-space-size=64` → `--max-semi-space-size`; V8 accepts `_` for `-` in flag names. */
function flagName(arg: string): string {
  return (arg.split('=')[0] as string).replaceAll('_', '-');
}
