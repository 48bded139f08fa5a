/**
 * Fault drills for cluster mode, against real processes and a real redis-server on loopback:
 *   1. kill -9 of a gateway node: how long until its agents vanish from the survivors' views;
 *   2. Redis restart: how long until every node is ready again and cross-node frames flow;
 *   3. Redis stopped for --outage-seconds (default 30): local routing during the outage, cross-node
 *      frames answered UNAVAILABLE, /ready 503 and /health 200, then the recovery time.
 * Prints a table and writes bench/results/faults-<stamp>.json. Exits 1 if a gateway crashed or a
 * recovery did not happen within 60 s. Usage: npm run faults [-- --outage-seconds N]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { TestAgent } from '../test/helpers/agent.js';
import { spawnGateway, waitFor200, type GatewayProcess } from '../test/helpers/process.js';
import { startRedis } from '../test/helpers/redis.js';
import { freePort } from '../test/helpers/ports.js';
import { intOption, optionsOrExit, parseCommandLine } from './lib/args.js';

const USAGE = 'usage: npm run faults -- [--outage-seconds N]   (N ≥ 1, default 30)';
const outageSeconds = optionsOrExit({ program: 'faults', usage: USAGE, help: USAGE }, (argv) => {
  const values = parseCommandLine(
    { 'outage-seconds': { type: 'string', default: '30' }, help: { type: 'boolean', short: 'h', default: false } } as const,
    argv,
  );
  return values.help ? null : intOption('outage-seconds', values['outage-seconds'], 1);
});
const HEARTBEAT_S = 1;
const BOUND_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < BOUND_MS) {
    if (await check().catch(() => false)) return Date.now() - start;
    await sleep(50);
  }
  throw new Error(`${what}: not within ${BOUND_MS} ms`);
}
async function status(gp: GatewayProcess, path: string): Promise<number> {
  return (await fetch(`${gp.httpUrl}${path}`)).status;
}
async function listed(gp: GatewayProcess): Promise<string[]> {
  const body = (await (await fetch(`${gp.httpUrl}/agents?limit=1000`)).json()) as { agents?: { did: string }[] };
  return (body.agents ?? []).map((a) => a.did);
}
/** Sends a signed OFFER and reports what happened within `ms`: delivered, or the ERROR code. */
async function attempt(from: TestAgent, to: TestAgent, ms = 1000): Promise<string> {
  const f = from.signal('OFFER', to.did, { sdp: 'v=0' });
  from.send(f);
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const got = to.inbox.findIndex((x) => x.id === f.id);
    if (got >= 0) {
      to.inbox.splice(got, 1);
      return 'delivered';
    }
    const err = from.inbox.findIndex((x) => x.type === 'ERROR' && x.ref === f.id);
    if (err >= 0) return String(from.inbox.splice(err, 1)[0]?.code);
    await sleep(10);
  }
  return 'timeout';
}

const redis = await startRedis();
const prefix = `faults${Date.now()}:`;
const nodes: GatewayProcess[] = [];
const agents: TestAgent[] = [];
const results: Record<string, unknown> = { heartbeat_interval_s: HEARTBEAT_S, outage_seconds: outageSeconds };
let failed = false;
try {
  for (let i = 0; i < 3; i++) {
    nodes.push(
      spawnGateway({
        GATEWAY_PORT: String(await freePort()),
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: prefix,
        HEARTBEAT_INTERVAL: String(HEARTBEAT_S),
        LOG_LEVEL: 'warn',
      }),
    );
  }
  const [n1, n2, n3] = nodes as [GatewayProcess, GatewayProcess, GatewayProcess];
  await Promise.all(nodes.map((n) => waitFor200(n, '/ready')));
  const on = async (gp: GatewayProcess) => {
    const a = new TestAgent();
    await a.register(gp.wsUrl);
    agents.push(a);
    return a;
  };
  const a = await on(n1);
  const a2 = await on(n1);
  const b = await on(n2);
  const c = await on(n3);
  await until('presence', async () => (await listed(n1)).length === 4);

  // 1. kill -9 of a node.
  n3.child.kill('SIGKILL');
  const vanishMs = await until('dead node unlisted', async () => !(await listed(n1)).includes(c.did) && !(await listed(n2)).includes(c.did));
  results.kill9 = { vanished_from_survivor_views_ms: vanishMs, survivors_route: await attempt(a, b), to_dead_agent: await attempt(a, c) };

  // 2. Redis restart (killed and started again at once, empty).
  await redis.stop(true);
  await redis.start();
  const readyMs = await until('ready after restart', async () => (await status(n1, '/ready')) === 200 && (await status(n2, '/ready')) === 200);
  const routeMs = await until('cross-node route after restart', async () => (await attempt(a, b, 300)) === 'delivered');
  const presenceMs = await until('presence re-published', async () => (await listed(n2)).length === 3);
  results.redis_restart = { ready_ms: readyMs, cross_node_route_ms: routeMs, presence_republished_ms: presenceMs };

  // 3. Redis stopped for a while.
  await redis.stop(true);
  await until('not ready', async () => (await status(n1, '/ready')) === 503);
  const during: Record<string, number> = {};
  const count = (k: string) => (during[k] = (during[k] ?? 0) + 1);
  const outageEnd = Date.now() + outageSeconds * 1000;
  while (Date.now() < outageEnd) {
    count(`local:${await attempt(a, a2, 500)}`);
    count(`cross:${await attempt(a, b, 500)}`);
    count(`health:${await status(n1, '/health')}`);
    count(`ready:${await status(n1, '/ready')}`);
    await sleep(500);
  }
  await redis.start();
  const t0 = Date.now();
  await until('ready after outage', async () => (await status(n1, '/ready')) === 200 && (await status(n2, '/ready')) === 200);
  const readyAfter = Date.now() - t0;
  await until('cross-node route after outage', async () => (await attempt(a, b, 300)) === 'delivered');
  const routeAfter = Date.now() - t0;
  await until('presence after outage', async () => (await listed(n2)).length === 3);
  results.redis_outage = { during, recovery: { ready_ms: readyAfter, cross_node_route_ms: routeAfter, presence_republished_ms: Date.now() - t0 } };

  for (const n of [n1, n2]) if (n.child.exitCode !== null) failed = true;
  results.survivors_alive = !failed;
} catch (err) {
  failed = true;
  results.error = (err as Error).message;
} finally {
  for (const a of agents) a.close();
  for (const n of nodes) if (n.child.exitCode === null) n.child.kill('SIGTERM');
  await Promise.all(nodes.map((n) => Promise.race([n.exited, sleep(12_000)])));
  await redis.stop();
}

console.log(JSON.stringify(results, null, 2));
const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19) + 'Z';
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/faults-${stamp}.json`, JSON.stringify({ scenario: 'faults', stamp, node: process.version, results }, null, 2));
process.exit(failed ? 1 : 0);
