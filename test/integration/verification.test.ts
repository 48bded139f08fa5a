/**
 * Signature verification in the worker pool (src/identity/verify-pool.ts) as a client sees it:
 * workers start on first use, both REGISTER and signaling frames go through them, and a
 * verification that gets no verdict is an internal failure, not a bad signature.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { get, startGateway, type TestGateway } from '../helpers/gateway.js';
import { agentTracker } from '../helpers/agent.js';
import { identityRSignature } from '../helpers/small-order-r.js';
import { eventually } from '../helpers/eventually.js';
import { signedBytes } from '../../src/protocol/canonical.js';

let gw: TestGateway | undefined;
const { agent, closeAgents } = agentTracker();
afterEach(async () => {
  closeAgents();
  await gw?.close();
  gw = undefined;
});

describe('signatures with a small-order R (docs/protocol.md §3)', () => {
  for (const signatureVerifier of ['libsodium', 'openssl'] as const) {
    it(`are refused with BAD_SIGNATURE by the ${signatureVerifier} verifier, inline and in the threads; the session goes on`, async () => {
      gw = await startGateway({ signatureVerifier, verifyThreads: 1, verifyInlineMaxLoad: 0 });
      const a = agent();
      const b = agent();
      await a.register(gw.wsUrl);
      await b.register(gw.wsUrl);
      // Valid by the verification equation (R = identity, S = k·a): only its signer can make one.
      const forged = () => {
        const frame: Record<string, unknown> = a.signal('OFFER', b.did, { sdp: 'v=0' });
        delete frame.sig;
        frame.sig = Buffer.from(identityRSignature(a.secretKey, signedBytes(frame))).toString('base64url');
        return frame as Record<string, unknown> & { id: string };
      };
      // One alone (verified inline: the threads are idle), then a burst: it starts the thread and
      // is verified inline while the thread starts; once the thread is ready, a burst goes to it.
      const frames = Array.from({ length: 11 }, forged);
      const refused = async (batch: typeof frames) => {
        for (const f of batch) a.send(f);
        for (const f of batch) expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'BAD_SIGNATURE', ref: f.id });
      };
      await refused(frames.slice(0, 1));
      await refused(frames.slice(1, 6));
      const pool = gw.app.hub.verifier;
      await eventually(() => pool.ready === 1, 10_000, 'the verification thread to be ready');
      await refused(frames.slice(6));
      expect(pool.counts.workers).toBeGreaterThan(0);
      const good = a.signal('OFFER', b.did, { sdp: 'v=0' });
      a.send(good);
      expect(await b.next()).toMatchObject({ type: 'OFFER', id: good.id });
      expect(await b.barrier()).toEqual([]);
    });
  }
});

describe('verification workers', () => {
  it('verify on the event loop when idle, use up to VERIFY_THREADS workers for bursts, and report in /metrics', async () => {
    // VERIFY_INLINE_MAX_LOAD=0: only the idle-workers rule, so that a burst reaches the workers
    // however lightly loaded this event loop is (the load-based rule has its own unit tests).
    gw = await startGateway({ verifyThreads: 2, verifyInlineMaxLoad: 0 });
    const pool = gw.app.hub.verifier;
    expect(pool.running).toBe(0);
    const a = agent();
    const b = agent();
    await a.register(gw.wsUrl);
    await b.register(gw.wsUrl);
    // One REGISTER at a time, workers idle: verified inline, no thread started.
    expect(pool.counts).toEqual({ inline: 2, workers: 0 });
    expect(pool.running).toBe(0);
    // A burst of 50 ICE frames in one write: it starts a thread, and is verified on the event
    // loop until the thread is ready (no frame waits for a thread to start).
    const burst = async (n: number) => {
      const frames = Array.from({ length: 50 }, (_, i) => JSON.stringify(a.signal('ICE', b.did, { candidate: `c${n}-${i}` })));
      for (const f of frames) a.ws.send(f);
      for (let i = 0; i < 50; i++) expect(await b.next()).toMatchObject({ type: 'ICE', from: a.did, payload: { candidate: `c${n}-${i}` } });
    };
    await burst(1);
    expect(pool.counts.inline + pool.counts.workers).toBe(52);
    expect(pool.threads.started).toBe(1);
    // Once it is ready, a burst is batched to the workers: most to it, and a second thread starts
    // while it has a batch in flight.
    await eventually(() => pool.ready === 1, 10_000, 'the first verification thread to be ready');
    const before = pool.counts.workers;
    await burst(2);
    expect(pool.counts.inline + pool.counts.workers).toBe(102);
    expect(pool.counts.workers - before).toBeGreaterThan(25);
    expect(pool.running).toBe(2);
    const metrics = await fetch(`${gw.httpUrl}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^aiconexus_verify_pending 0$/m);
    expect(metrics).toMatch(/^aiconexus_signature_verify_seconds_count 102$/m);
    expect(metrics).toMatch(new RegExp(`^aiconexus_signatures_verified_total\\{where="workers"\\} ${pool.counts.workers}$`, 'm'));
  });

  it('reports the event loop\'s busy share since the previous scrape in /metrics', async () => {
    gw = await startGateway();
    const utilization = async () => {
      const text = await fetch(`${gw?.httpUrl}/metrics`).then((r) => r.text());
      const m = /^aiconexus_event_loop_utilization (\S+)$/m.exec(text);
      expect(m).not.toBeNull();
      return Number(m?.[1]);
    };
    await utilization();
    // This test shares the gateway's event loop: keep it busy for 300 ms, then scrape.
    const until = performance.now() + 300;
    while (performance.now() < until);
    const busy = await utilization();
    expect(busy).toBeGreaterThan(0.5);
    expect(busy).toBeLessThanOrEqual(1);
    // An idle stretch brings it down. A sleep on purpose: event-loop utilization is a share of
    // wall time, so the idle wall time is what is measured.
    await new Promise((r) => setTimeout(r, 300));
    expect(await utilization()).toBeLessThan(busy);
  });

  it('answers a signaling frame without a verdict with BAD_FRAME (its id, retry allowed) and keeps the session', async () => {
    gw = await startGateway();
    const a = agent();
    const b = agent();
    await a.register(gw.wsUrl);
    await b.register(gw.wsUrl);
    // No verdict from now on (as when a worker dies with the frame in it).
    await gw.app.hub.verifier.close();
    const offer = a.signal('OFFER', b.did, { sdp: 'v=0' });
    a.send(offer);
    const error = await a.next();
    expect(error).toMatchObject({ type: 'ERROR', code: 'BAD_FRAME', ref: offer.id });
    expect(error.message).toContain('may be sent again');
    expect(await b.barrier()).toEqual([]); // nothing reached b before its PONG
    // The session is still there and still answers.
    a.send({ type: 'PING', id: 'still-here' });
    expect(await a.next()).toMatchObject({ type: 'PONG', ref: 'still-here' });
    expect((await get(gw, '/agents')).body.agents).toHaveLength(2);
  });

  it('answers a REGISTER without a verdict with AUTH_FAILED and close 4401', async () => {
    gw = await startGateway();
    await gw.app.hub.verifier.close();
    const a = agent();
    await a.connect(gw.wsUrl);
    a.send(a.registerFrame());
    expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'AUTH_FAILED', ref: null });
    expect(await a.closed).toMatchObject({ code: 4401 });
    expect((await get(gw, '/agents')).body.agents).toEqual([]);
    const metrics = await fetch(`${gw.httpUrl}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^aiconexus_handshakes_total\{result="failed"\} 1$/m);
  });
});
