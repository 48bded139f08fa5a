/**
 * The bench's agent identities (bench/lib/agent.ts) on whatever Node runs the suite (CI runs it
 * on every supported major): a fresh key's DID is the gateway's kind of did:key, and what it
 * signs verifies against that DID as the gateway verifies it.
 */
import { describe, expect, it } from 'vitest';
import { newAgentKeys, signFrameText } from '../../bench/lib/agent.js';
import { signedBytes } from '../../src/protocol/canonical.js';
import { importAgentKey, signatureBytes, verifySignature } from '../../src/identity/verify.js';

describe('bench agent keys', () => {
  it('makes distinct did:key identities whose signed frames the gateway verifies', () => {
    const [a, b] = [newAgentKeys(), newAgentKeys()];
    expect(a.did).toMatch(/^did:key:z6Mk/);
    expect(a.did).not.toBe(b.did);
    const frame = { type: 'ICE', id: 'frame-1', from: a.did, to: b.did, ts: 1_700_000_000_000, payload: { candidate: 'c' } };
    const sent = JSON.parse(signFrameText(a, frame)) as Record<string, unknown>;
    const sig = signatureBytes(sent.sig as string);
    expect(sig).not.toBeNull();
    const keyA = importAgentKey(a.did);
    const keyB = importAgentKey(b.did);
    expect(keyA).not.toBeNull();
    expect(verifySignature(keyA!, signedBytes(sent), sig!)).toBe(true);
    // Not by anyone else's key.
    expect(verifySignature(keyB!, signedBytes(sent), sig!)).toBe(false);
  });
});
