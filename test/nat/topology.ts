/**
 * A small Internet in network namespaces, for proving that agents behind real NATs connect
 * through TURN (test/nat/nat-turn.test.ts, scripts/demo-nat.ts):
 *
 *                 public  (bridge br0 198.51.100.1/24: gateway, coturn)
 *                 /                          \
 *   router1  wan 198.51.100.10         router2  wan 198.51.100.20
 *            lan 192.0.2.1/25                   lan 192.0.2.129/25
 *                 |                          |
 *   agent1   eth0 192.0.2.2/25         agent2   eth0 192.0.2.130/25
 *
 * Each router forwards (ip_forward=1 in its namespace only) and masquerades what leaves its wan
 * with nftables `masquerade fully-random`: every new flow gets a random public port, so the
 * mapping a STUN server sees is useless to the peer (a symmetric NAT, which defeats hole
 * punching; only a relay gets through). The routers also drop unsolicited inbound forwarding,
 * and the public namespace routes everything beyond its bridge to a next hop that swallows it
 * (and does not forward): an agent's private address is unreachable from outside, as behind a
 * home router.
 *
 * Only documentation ranges are used, and nothing is done in the host's own namespace: every
 * veth is created inside a namespace with its peer placed straight into another one, so the
 * host's interfaces, addresses, routes and nftables ruleset are never touched. Namespace names
 * are `<prefix>-<pid>-<random>-<role>`, unique per run; destroy() kills what runs in them and
 * deletes them (veths and nftables rules go with them). A run killed before its cleanup leaves
 * namespaces whose pid is dead: createNatTopology() removes those first.
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const NAT_PREFIX = 'aicxnat';

/** Addresses of the topology (fixed: the namespaces keep different runs apart). */
export const ADDR = {
  /** The public bridge: where the gateway and coturn listen. */
  public: '198.51.100.1',
  router1: '198.51.100.10',
  router2: '198.51.100.20',
  agent1: '192.0.2.2',
  agent2: '192.0.2.130',
} as const;

/** The public namespace's "upstream": a next hop nobody answers for (see createNatTopology). */
const UPSTREAM = '198.51.100.254';

export interface NatTopology {
  /** Namespace names. */
  ns: { public: string; router1: string; router2: string; agent1: string; agent2: string };
  /** Deletes everything it created; safe to call more than once, never throws. */
  destroy(): Promise<void>;
}

export interface TopologyOptions {
  /** Namespace name prefix (default NAT_PREFIX). */
  prefix?: string;
  /** Told each step, for people following along (scripts/demo-nat.ts). */
  log?: (line: string) => void;
}

/**
 * Why this machine cannot build the topology, or null when it can: root, `ip` and `nft`.
 * Callers throw with it: a NAT test that cannot run must fail, not pass by skipping.
 */
export function topologyUnavailable(): string | null {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return `network namespaces need root (running as uid ${process.getuid()}): run as root, e.g. sudo`;
  }
  for (const [tool, pkg] of [
    ['ip', 'iproute2'],
    ['nft', 'nftables'],
  ] as const) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `\`${tool}\` not found: install the Debian package ${pkg} (apt-get install ${pkg})`;
  }
  return null;
}

/** Runs `ip` (or anything) and turns a failure into an Error naming the command and its stderr. */
async function sh(cmd: string, args: string[], input?: string): Promise<string> {
  try {
    if (input === undefined) return (await run(cmd, args)).stdout;
    // nft -f - reads the ruleset from stdin.
    return await new Promise<string>((resolve, reject) => {
      const child = execFile(cmd, args, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      child.stdin?.end(input);
    });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`\`${cmd} ${args.join(' ')}\` failed: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  }
}

/** Every namespace name `ip netns list` shows. */
async function listNamespaces(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']);
  // Lines look like "name" or "name (id: 3)".
  return out
    .split('\n')
    .map((line) => line.trim().split(' ')[0] ?? '')
    .filter((name) => name !== '');
}

/** Kills (SIGKILL, by pid) what still runs in namespace `ns`, then deletes it. Never throws. */
async function deleteNamespace(ns: string): Promise<void> {
  try {
    // A namespace with processes in it outlives `ip netns del` (only its name goes), with its
    // addresses still bound: kill them first. They are ours: gateway, coturn, agents, tools.
    const pids = (await sh('ip', ['netns', 'pids', ns])).split('\n').filter((p) => /^\d+$/.test(p));
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  } catch {
    // no such namespace any more
  }
  await sh('ip', ['netns', 'del', ns]).catch(() => {});
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes namespaces `<prefix>-<pid>-…` whose creating process is gone (a killed earlier run). */
export async function removeStaleNamespaces(prefix = NAT_PREFIX, log: (line: string) => void = () => {}): Promise<string[]> {
  const pattern = new RegExp(`^${prefix}-(\\d+)-[0-9a-f]+-`);
  const stale = (await listNamespaces()).filter((name) => {
    const m = pattern.exec(name);
    return m !== null && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]));
  });
  for (const ns of stale) {
    log(`removing stale namespace ${ns} (left by a run that was killed)`);
    await deleteNamespace(ns);
  }
  return stale;
}

/**
 * Deletes every namespace this process created (`<prefix>-<our pid>-…`), with what runs in them:
 * for an interrupt (SIGINT) that may come while createNatTopology() is still building.
 */
export async function removeOwnNamespaces(prefix = NAT_PREFIX): Promise<string[]> {
  const own = (await listNamespaces()).filter((name) => name.startsWith(`${prefix}-${process.pid}-`));
  for (const ns of own) await deleteNamespace(ns);
  return own;
}

/** nftables ruleset of a router: symmetric NAT out of `wan`, nothing unsolicited in. */
function routerRuleset(): string {
  return [
    'table ip nat {',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    // fully-random: a random source port for every new flow (mapping depends on the destination).
    '    oifname "wan" masquerade fully-random',
    '  }',
    '}',
    'table ip filter {',
    '  chain forward {',
    '    type filter hook forward priority filter; policy drop;',
    '    ct state established,related accept',
    '    iifname "lan" oifname "wan" accept',
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Builds the topology. On any failure it removes what it had created and throws; throws at once
 * (with the reason) when the machine cannot do it (topologyUnavailable()).
 */
export async function createNatTopology(options: TopologyOptions = {}): Promise<NatTopology> {
  const why = topologyUnavailable();
  if (why !== null) throw new Error(`cannot build the NAT topology: ${why}`);
  const prefix = options.prefix ?? NAT_PREFIX;
  const log = options.log ?? (() => {});
  await removeStaleNamespaces(prefix, log);

  const id = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const ns = { public: `${id}-pub`, router1: `${id}-r1`, router2: `${id}-r2`, agent1: `${id}-a1`, agent2: `${id}-a2` };
  const created: string[] = [];
  let destroyed = false;
  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    for (const name of created.reverse()) await deleteNamespace(name);
    log(`removed namespaces ${id}-{pub,r1,r2,a1,a2}`);
  };

  /** `ip -n <ns> …` */
  const ipn = (name: string, ...args: string[]) => sh('ip', ['-n', name, ...args]);
  try {
    for (const name of Object.values(ns)) {
      await sh('ip', ['netns', 'add', name]);
      created.push(name);
      await ipn(name, 'link', 'set', 'lo', 'up');
    }
    log(`created namespaces ${id}-{pub,r1,r2,a1,a2}`);

    // The public side: one bridge, the gateway's and coturn's address on it.
    await ipn(ns.public, 'link', 'add', 'br0', 'type', 'bridge');
    await ipn(ns.public, 'addr', 'add', `${ADDR.public}/24`, 'dev', 'br0');
    await ipn(ns.public, 'link', 'set', 'br0', 'up');
    // The rest of "the Internet" (private addresses included) swallows packets, as the real one
    // does: the default route points at an upstream that only exists as a static ARP entry, so
    // such packets leave onto the bridge and nobody takes them. Without any route, coturn's send
    // to a peer's private host candidate fails with ENETUNREACH, and coturn then tears that
    // whole allocation down. (No dummy interface: containers often lack that kernel module.)
    await ipn(ns.public, 'neigh', 'add', UPSTREAM, 'lladdr', '02:00:00:00:00:fe', 'dev', 'br0', 'nud', 'permanent');
    await ipn(ns.public, 'route', 'add', 'default', 'via', UPSTREAM, 'dev', 'br0');
    // Explicit, because a new namespace may inherit the host's setting (a Docker host has 1).
    await sh('ip', ['netns', 'exec', ns.public, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward']);

    const routers = [
      { router: ns.router1, agent: ns.agent1, port: 'r1', wan: ADDR.router1, lan: '192.0.2.1', host: ADDR.agent1 },
      { router: ns.router2, agent: ns.agent2, port: 'r2', wan: ADDR.router2, lan: '192.0.2.129', host: ADDR.agent2 },
    ];
    for (const r of routers) {
      // wan ↔ a bridge port in public. Created inside the router's namespace, the peer end put
      // straight into the public one: neither end ever exists in the host's namespace.
      await ipn(r.router, 'link', 'add', 'wan', 'type', 'veth', 'peer', 'name', r.port, 'netns', ns.public);
      await ipn(ns.public, 'link', 'set', r.port, 'master', 'br0', 'up');
      await ipn(r.router, 'addr', 'add', `${r.wan}/24`, 'dev', 'wan');
      await ipn(r.router, 'link', 'set', 'wan', 'up');
      await ipn(r.router, 'route', 'add', 'default', 'via', ADDR.public);
      // lan ↔ the agent's eth0, a /25 each, the router as default gateway.
      await ipn(r.router, 'link', 'add', 'lan', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', r.agent);
      await ipn(r.router, 'addr', 'add', `${r.lan}/25`, 'dev', 'lan');
      await ipn(r.router, 'link', 'set', 'lan', 'up');
      await ipn(r.agent, 'addr', 'add', `${r.host}/25`, 'dev', 'eth0');
      await ipn(r.agent, 'link', 'set', 'eth0', 'up');
      await ipn(r.agent, 'route', 'add', 'default', 'via', r.lan);
      // net.ipv4.ip_forward=1 in the router's namespace only: /proc/sys/net is per network
      // namespace (written directly: the sysctl command is not on every minimal image).
      await sh('ip', ['netns', 'exec', r.router, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
      await sh('ip', ['netns', 'exec', r.router, 'nft', '-f', '-'], routerRuleset());
      log(`router ${r.router}: wan ${r.wan}, lan ${r.lan}/25, masquerade fully-random; agent ${r.agent}: ${r.host}`);
    }
    return { ns, destroy };
  } catch (err) {
    await destroy();
    throw err;
  }
}
