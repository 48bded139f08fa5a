/**
 * Memory after a burst (src/idle-collect.ts), on the real process entry: once the event loop is
 * quiet, the buffers a burst of large frames left behind are collected, instead of waiting
 * (possibly for minutes) for V8 to collect them on its own.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { eventually } from '../helpers/eventually.js';
import { spawnGateway, waitFor200, type GatewayProcess } from '../helpers/process.js';

/** One counter from /metrics. */
async function counter(gp: GatewayProcess, name: string): Promise<number> {
  const text = await (await fetch(`${gp.httpUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`${name} not in /metrics`);
  return Number(m[1]);
}
const collections = (gp: GatewayProcess) => counter(gp, 'aiconexus_idle_collections_total');
const receivedBytes = (gp: GatewayProcess) => counter(gp, 'aiconexus_received_bytes_total');

describe('memory after a burst', () => {
  let gp: GatewayProcess | undefined;
  const agents: TestAgent[] = [];
  afterEach(() => {
    for (const a of agents) a.close();
    gp?.child.kill('SIGKILL');
  });

  it('collects once when the loop goes quiet after a 40 MB burst', async () => {
    // Rate limits raised so one sender can burst (as in `npm run attack`'s burst-memory); debug
    // logging shows the collection without polling the gateway (a request allocates, and enough
    // requests would make V8 collect on its own).
    gp = spawnGateway({ RATE_LIMIT: '100000', RATE_BURST: '100000', LOG_LEVEL: 'debug' });
    await waitFor200(gp);
    const target = new TestAgent();
    const sender = new TestAgent();
    agents.push(target, sender);
    await target.register(gp.wsUrl);
    await sender.register(gp.wsUrl);
    expect(await collections(gp)).toBe(0);

    // ~40 MB of ~32 KB OFFERs, 10 at a time: within the target's inbound budget (half of
    // MAX_BUFFERED_BYTES), so none is refused with TARGET_BUSY.
    const sdp = 'v=0 '.repeat(8000);
    let received = 0;
    for (let batch = 0; batch < 125; batch++) {
      for (let i = 0; i < 10; i++) sender.send(sender.signal('OFFER', target.did, { sdp }));
      for (let i = 0; i < 10; i++) if ((await target.next()).type === 'OFFER') received++;
    }
    expect(received).toBe(1250);
    expect(sender.inbox).toEqual([]);

    // 40 MB received (over IDLE_COLLECT_MIN_RECEIVED_BYTES, 32 MB), and idle now: within a few
    // checks (every 5 s) the gateway collects, once.
    const logged = () => gp!.output().split('\n').filter((l) => l.includes('"msg":"idle collection"'));
    await eventually(() => logged().length > 0, 40_000, 'the "idle collection" log line', 250);
    const line = JSON.parse(logged()[0] as string) as { allocatedMB: number; ms: number };
    expect(line.ms).toBeGreaterThanOrEqual(0);
    expect(await collections(gp)).toBe(1);
    expect(await receivedBytes(gp)).toBeGreaterThan(40_000_000);
  }, 120_000);
});
