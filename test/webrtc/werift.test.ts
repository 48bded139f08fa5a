/**
 * A real WebRTC data channel between two Node agents (werift), negotiated through a real gateway:
 * OFFER → ANSWER, trickled ICE with end-of-candidates (docs/protocol.md §5), one message each way,
 * then BYE. Runs examples/webrtc-pair.ts, so the example is proven too. ICE stays on 127.0.0.1
 * (no STUN/TURN servers). Every wait is bounded; the test stops by itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignalFrame } from '../../src/client/index.js';
import { runPair } from '../../examples/webrtc-pair.js';
import { isLoopbackCandidate } from '../../examples/webrtc-signaling.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

describe('WebRTC through the gateway: werift ↔ werift', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await startGateway();
  });

  afterAll(async () => {
    await gw?.close();
  });

  it('opens a data channel and carries a message each way', { timeout: 30_000 }, async () => {
    const received: Record<'A' | 'B', SignalFrame[]> = { A: [], B: [] };
    const result = await runPair({ url: gw.wsUrl, timeoutMs: 20_000, observe: (at, frame) => received[at].push(frame) });

    expect(result.atB).toBe('hello from A');
    expect(result.atA).toBe('hello from B');

    // The negotiation really went through the gateway, verified end to end at each agent.
    const types = (at: 'A' | 'B') => received[at].map((f) => f.type);
    expect(types('B')[0]).toBe('OFFER');
    expect(types('A')[0]).toBe('ANSWER');
    expect(types('B')).toContain('BYE');
    for (const at of ['A', 'B'] as const) {
      const ice = received[at].filter((f) => f.type === 'ICE').map((f) => f.payload.candidate);
      expect(ice.some((c) => c.startsWith('candidate:')), `${at} got at least one candidate`).toBe(true);
      expect(ice, `${at} got end-of-candidates ("")`).toContain('');
      expect(ice.every(isLoopbackCandidate), `${at} got only 127.0.0.1 candidates: ${ice.join(' | ')}`).toBe(true);
    }
  });
});
