/**
 * Cluster-mode log lines: the hub's, sessions' and Redis connections' lines name their node once
 * (`node`), no line twice; a kick names the other node as `other_node`.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../helpers/agent.js';
import { eventually, startGateway, waitReady, type TestGateway } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let redis: TestRedis;
const gateways: TestGateway[] = [];
const agents: TestAgent[] = [];

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  for (const a of agents) a.close();
  await Promise.all(gateways.map((g) => g.close()));
  await redis.stop();
});

/** A cluster node whose log lines are collected. */
async function node(lines: string[]): Promise<TestGateway> {
  const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(...String(chunk).split('\n').filter(Boolean)), done()) });
  const gw = await startGateway({ redisUrl: redis.url, redisKeyPrefix: 'logs:', heartbeatIntervalMs: 400 }, { logger: { level: 'debug', stream } });
  gateways.push(gw);
  await waitReady(gw);
  return gw;
}

describe('cluster logs', () => {
  it('no line has node twice; the hub and session lines have it once; a kick is other_node', async () => {
    const linesA: string[] = [];
    const linesB: string[] = [];
    const a = await node(linesA);
    const b = await node(linesB);
    const first = new TestAgent();
    agents.push(first);
    await first.register(a.wsUrl);
    const second = new TestAgent(first.secretKey);
    agents.push(second);
    await second.register(b.wsUrl);
    expect(await first.closed).toMatchObject({ code: 4409 });
    await eventually(() => linesB.some((l) => l.includes('session replaced on another node')), 5000, 'the kick logged on node b');

    // Fastify's own lines (listening, requests) come from the root logger, without `node`.
    const nodeOf = (lines: string[]) => new Set(lines.map((l) => (JSON.parse(l) as { node?: string }).node).filter((n) => n !== undefined));
    for (const lines of [linesA, linesB]) {
      for (const line of lines) expect(line.match(/"node":/g)?.length ?? 0, line).toBeLessThanOrEqual(1);
      for (const msg of ['cluster mode: presence and routing through Redis', 'cluster bus ready', 'connection opened', 'agent registered']) {
        const line = lines.find((l) => l.includes(`"msg":"${msg}"`));
        expect(line?.match(/"node":/g)?.length, msg).toBe(1);
      }
      expect(nodeOf(lines).size).toBe(1);
    }
    const kick = JSON.parse(linesB.find((l) => l.includes('session replaced on another node')) as string) as { node: string; other_node: string; did: string };
    expect(kick).toMatchObject({ did: first.did, other_node: [...nodeOf(linesA)][0] });
    expect(kick.other_node).not.toBe(kick.node);
  });
});
