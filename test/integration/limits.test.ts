/** Frame size (1009), per-session rate limit (RATE_LIMITED, 4429), and isolation between agents. */
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, get, startGateway, type TestGateway } from '../helpers/gateway.js';
import { TestAgent } from '../helpers/agent.js';
import { manualClock } from '../helpers/clock.js';

let gw: TestGateway | undefined;
const open: TestAgent[] = [];
/** Three registered agents. */
async function agents(url: string): Promise<[TestAgent, TestAgent, TestAgent]> {
  const list: [TestAgent, TestAgent, TestAgent] = [new TestAgent(), new TestAgent(), new TestAgent()];
  for (const a of list) await a.register(url);
  open.push(...list);
  return list;
}
afterEach(async () => {
  for (const a of open.splice(0)) a.close();
  await gw?.close();
  gw = undefined;
});

describe('MAX_FRAME_BYTES', () => {
  it('closes a connection that sends a frame over the limit with 1009; others keep routing', async () => {
    gw = await startGateway({ maxFrameBytes: 2048 });
    const [a, b, c] = await agents(gw.wsUrl);
    // Just under the limit is fine (an sdp that fits).
    const fits = a.signal('OFFER', b.did, { sdp: '' });
    const room = 2048 - Buffer.byteLength(JSON.stringify(fits)) - 10;
    const near = a.signal('OFFER', b.did, { sdp: 'x'.repeat(room) });
    expect(Buffer.byteLength(JSON.stringify(near))).toBeLessThanOrEqual(2048);
    a.send(near);
    expect(await b.next()).toEqual(near);
    a.send(a.signal('OFFER', b.did, { sdp: 'x'.repeat(4096) }));
    expect(await a.closed).toMatchObject({ code: 1009 });
    await eventually(async () => (await get(gw as TestGateway, '/metrics')).body.includes('aiconexus_closes_total{code="1009"} 1'), 2000, '1009 counted');
    const f = c.signal('OFFER', b.did, { sdp: 'v=0' });
    c.send(f);
    expect(await b.next()).toEqual(f);
  });

  it('applies the limit before REGISTER too', async () => {
    gw = await startGateway({ maxFrameBytes: 1024 });
    const a = new TestAgent();
    open.push(a);
    await a.connect(gw.wsUrl);
    a.send(a.registerFrame({ name: 'x', pad: 'y'.repeat(2000) }));
    expect(await a.closed).toMatchObject({ code: 1009 });
  });
});

describe('RATE_LIMIT / RATE_BURST', () => {
  it('drops frames over the burst with RATE_LIMITED (ref null) before parsing, and keeps the connection', async () => {
    // The buckets run on the test's clock: no refill while the frames are sent, however slow the
    // machine, and "a second later" below is one call, not a second of wall time.
    const clock = manualClock();
    gw = await startGateway({ rateLimit: 1, rateBurst: 5 }, { now: clock.now });
    const [a, b] = await agents(gw.wsUrl);
    // REGISTER used one token; 4 frames pass, then even garbage is RATE_LIMITED, not BAD_FRAME.
    for (let i = 0; i < 4; i++) a.send({ type: 'PING', id: `p${i}` });
    a.send('not json at all');
    a.send({ type: 'PING', id: 'dropped' });
    const replies = [await a.next(), await a.next(), await a.next(), await a.next(), await a.next(), await a.next()];
    expect(replies.slice(0, 4).map((r) => r.type)).toEqual(['PONG', 'PONG', 'PONG', 'PONG']);
    expect(replies[4]).toMatchObject({ type: 'ERROR', code: 'RATE_LIMITED', ref: null });
    expect(replies[5]).toMatchObject({ type: 'ERROR', code: 'RATE_LIMITED', ref: null });
    // b has its own bucket.
    b.send({ type: 'PING', id: 'b1' });
    expect(await b.next()).toMatchObject({ type: 'PONG', ref: 'b1' });
    // Tokens refill at RATE_LIMIT per second.
    clock.advance(1000);
    a.send({ type: 'PING', id: 'refilled' });
    expect(await a.next()).toMatchObject({ type: 'PONG', ref: 'refilled' });
  });

  it('closes a session that keeps flooding with 4429; other agents keep routing', async () => {
    gw = await startGateway({ rateLimit: 1, rateBurst: 3 });
    const [flooder, b, c] = await agents(gw.wsUrl);
    for (let i = 0; i < 20; i++) flooder.send({ type: 'PING', id: `f${i}` });
    expect(await flooder.closed).toMatchObject({ code: 4429 });
    const errors = flooder.inbox.filter((f) => f.type === 'ERROR');
    // More than RATE_BURST (3) dropped frames within the window → closed at the 4th drop.
    expect(errors).toHaveLength(4);
    const f = c.signal('OFFER', b.did, { sdp: 'v=0' });
    c.send(f);
    expect(await b.next()).toEqual(f);
  });
});

describe('isolation', () => {
  it("one agent's garbage, forgeries and floods never reach or slow down another pair", async () => {
    gw = await startGateway({ rateBurst: 500 });
    const [bad, a, b] = await agents(gw.wsUrl);
    const expected: unknown[] = [];
    for (let i = 0; i < 50; i++) {
      bad.send('{{{');
      bad.send({ type: 'OFFER', id: `bad${i}`, from: a.did, to: b.did });
      bad.send(bad.signal('OFFER', b.did, { sdp: 'x' }, { from: a.did }));
      const f = a.signal('ICE', b.did, { candidate: `c${i}` });
      expected.push(f);
      a.send(f);
    }
    const got = [];
    for (let i = 0; i < 50; i++) got.push(await b.next());
    expect(got).toEqual(expected);
    expect(a.inbox).toEqual([]);
    const codes = new Set<unknown>();
    await eventually(() => bad.inbox.length >= 150, 10_000, "the bad agent's 150 errors");
    for (const e of bad.inbox) codes.add(e.code);
    expect([...codes].sort()).toEqual(['BAD_FRAME', 'SENDER_MISMATCH']);
  });
});
