/** docs/protocol.md §5: the ordered checks of signaling frames, each ERROR with its ref, connection kept. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { malleate, nextId, sendInOneWrite, signFrame, TestAgent } from '../helpers/agent.js';

let gw: TestGateway;
let a: TestAgent;
let b: TestAgent;
const offline = new TestAgent(); // a valid DID that never connects

beforeAll(async () => {
  gw = await startGateway();
  a = new TestAgent();
  b = new TestAgent();
  await a.register(gw.wsUrl);
  await b.register(gw.wsUrl);
});
afterAll(async () => {
  a.close();
  b.close();
  await gw.close();
});

/** Sends `frame` from a and expects ERROR `code` with `ref`; then proves the connection still works. */
async function expectError(frame: unknown, code: string, ref: string | null) {
  a.send(frame);
  expect(await a.next()).toMatchObject({ type: 'ERROR', code, ref });
  const id = nextId('alive');
  a.send({ type: 'PING', id });
  expect(await a.next()).toMatchObject({ type: 'PONG', ref: id });
  expect(b.inbox).toEqual([]);
}

describe('schema → BAD_FRAME (connection stays open)', () => {
  const sdp = { sdp: 'v=0' };
  const cases: [string, () => unknown, string | null][] = [
    ['text that is not JSON', () => '{"type":', null],
    ['a JSON array', () => '[{"type":"PING"}]', null],
    ['a JSON string', () => '"OFFER"', null],
    ['a missing type', () => ({ id: 'x1' }), 'x1'],
    ['a numeric type', () => ({ type: 7, id: 'x2' }), 'x2'],
    ['an OFFER without payload', () => signFrame(a.secretKey, { type: 'OFFER', id: 'x3', from: a.did, to: b.did, ts: Date.now() }), 'x3'],
    ['an OFFER whose sdp is not a string', () => a.signal('OFFER', b.did, { sdp: 5 }, { id: 'x4' }), 'x4'],
    ['an OFFER with sdp over 32768 chars', () => a.signal('OFFER', b.did, { sdp: 'a'.repeat(32769) }, { id: 'x5' }), 'x5'],
    ['an unknown top-level field', () => a.signal('OFFER', b.did, sdp, { id: 'x6', extra: 1 }), 'x6'],
    ['a bad id (too long): ref null', () => a.signal('OFFER', b.did, sdp, { id: 'x'.repeat(65) }), null],
    ['a bad id (characters): ref null', () => a.signal('OFFER', b.did, sdp, { id: 'a b' }), null],
    ['a float ts', () => a.signal('OFFER', b.did, sdp, { id: 'x7', ts: Date.now() + 0.5 }), 'x7'],
    ['a string ts', () => a.signal('OFFER', b.did, sdp, { id: 'x8', ts: String(Date.now()) }), 'x8'],
    ['a `to` that is not a did:key', () => a.signal('OFFER', 'bob', sdp, { id: 'x9' }), 'x9'],
    ['a `to` with an X25519 multicodec', () => a.signal('OFFER', 'did:key:z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F', sdp, { id: 'x10' }), 'x10'],
    ['an ICE without candidate', () => a.signal('ICE', b.did, { sdpMid: '0' }, { id: 'x11' }), 'x11'],
    ['an ICE with negative sdpMLineIndex', () => a.signal('ICE', b.did, { candidate: '', sdpMLineIndex: -1 }, { id: 'x12' }), 'x12'],
    ['a BYE reason over 256 chars', () => a.signal('BYE', b.did, { reason: 'r'.repeat(257) }, { id: 'x13' }), 'x13'],
    ['a sig of the wrong length', () => ({ ...a.signal('OFFER', b.did, sdp, { id: 'x14' }), sig: 'abc' }), 'x14'],
    ['a padded sig', () => {
      const f = a.signal('OFFER', b.did, sdp, { id: 'x15' });
      return { ...f, sig: `${f.sig}==` };
    }, 'x15'],
    ['a second REGISTER', () => ({ type: 'REGISTER', did: a.did }), null],
    ['a server-only CHALLENGE', () => ({ type: 'CHALLENGE', id: 's1' }), 's1'],
    ['a server-only ERROR', () => ({ type: 'ERROR', code: 'X' }), null],
    ['a DISCOVER with limit 1001', () => ({ type: 'DISCOVER', id: 'd1', limit: 1001 }), 'd1'],
    ['a PING with an extra field', () => ({ type: 'PING', id: 'p1', x: 1 }), 'p1'],
  ];
  for (const [name, build, ref] of cases) {
    it(`rejects ${name}`, async () => expectError(build(), 'BAD_FRAME', ref));
  }

  it('answers a binary frame with BAD_FRAME', async () => {
    a.send(Buffer.from(JSON.stringify({ type: 'PING', id: 'bin' })), { binary: true });
    expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'BAD_FRAME', ref: null });
  });
});

describe('UNKNOWN_TYPE', () => {
  it('answers a type not in the protocol, with the id as ref', async () => expectError({ type: 'HELLO', id: 'u1' }, 'UNKNOWN_TYPE', 'u1'));
});

describe('SENDER_MISMATCH, STALE, BAD_SIGNATURE, REPLAY, AGENT_NOT_FOUND', () => {
  it('SENDER_MISMATCH: from is another DID (signed by the session key)', async () => {
    await expectError(a.signal('OFFER', b.did, { sdp: 'v=0' }, { id: 'm1', from: b.did }), 'SENDER_MISMATCH', 'm1');
  });
  it('STALE: ts older than CLOCK_SKEW', async () => {
    await expectError(a.signal('OFFER', b.did, { sdp: 'v=0' }, { id: 's1', ts: Date.now() - 31_000 }), 'STALE', 's1');
  });
  it('STALE: ts further ahead than CLOCK_SKEW', async () => {
    await expectError(a.signal('ICE', b.did, { candidate: '' }, { id: 's2', ts: Date.now() + 31_000 }), 'STALE', 's2');
  });
  it('BAD_SIGNATURE: signed by another key', async () => {
    const forged = signFrame(b.secretKey, { type: 'OFFER', id: 'g1', from: a.did, to: b.did, ts: Date.now(), payload: { sdp: 'v=0' } });
    await expectError(forged, 'BAD_SIGNATURE', 'g1');
  });
  it('BAD_SIGNATURE: payload changed after signing', async () => {
    const f = a.signal('ANSWER', b.did, { sdp: 'v=0' }, { id: 'g2' });
    await expectError({ ...f, payload: { sdp: 'v=1' } }, 'BAD_SIGNATURE', 'g2');
  });
  it('BAD_SIGNATURE: S + L (a malleated signature that OpenSSL would also reject)', async () => {
    const f = a.signal('OFFER', b.did, { sdp: 'v=0' }, { id: 'g3' });
    await expectError({ ...f, sig: malleate(f.sig as string) }, 'BAD_SIGNATURE', 'g3');
  });
  it('REPLAY: the same frame twice (delivered once)', async () => {
    const f = a.signal('OFFER', b.did, { sdp: 'v=0' }, { id: 'r1' });
    a.send(f);
    expect(await b.next()).toEqual(f);
    a.send(f);
    expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'REPLAY', ref: 'r1' });
    expect(await b.barrier()).toEqual([]);
  });
  it('REPLAY: a new frame reusing an id', async () => {
    const f1 = a.signal('ICE', b.did, { candidate: '' }, { id: 'r2' });
    a.send(f1);
    expect(await b.next()).toEqual(f1);
    const f2 = a.signal('ICE', b.did, { candidate: 'x' }, { id: 'r2', ts: Date.now() + 1 });
    a.send(f2);
    expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'REPLAY', ref: 'r2' });
  });
  it('AGENT_NOT_FOUND: target offline; the id is used up anyway', async () => {
    const f = a.signal('OFFER', offline.did, { sdp: 'v=0' }, { id: 'n1' });
    await expectError(f, 'AGENT_NOT_FOUND', 'n1');
    await expectError(a.signal('OFFER', b.did, { sdp: 'v=0' }, { id: 'n1' }), 'REPLAY', 'n1');
  });
  it('a bad signature does not use up the id', async () => {
    const f = a.signal('OFFER', b.did, { sdp: 'v=0' }, { id: 'n2' });
    await expectError({ ...f, payload: { sdp: 'tampered' } }, 'BAD_SIGNATURE', 'n2');
    a.send(f);
    expect(await b.next()).toEqual(f);
  });
  it('checks in order: sender before freshness, freshness before signature, signature before replay', async () => {
    const mismatchAndStale = signFrame(b.secretKey, { type: 'OFFER', id: 'o1', from: b.did, to: b.did, ts: 1, payload: { sdp: '' } });
    await expectError(mismatchAndStale, 'SENDER_MISMATCH', 'o1');
    const staleAndForged = signFrame(b.secretKey, { type: 'OFFER', id: 'o2', from: a.did, to: b.did, ts: 1, payload: { sdp: '' } });
    await expectError(staleAndForged, 'STALE', 'o2');
    const used = a.signal('OFFER', b.did, { sdp: 'v=0' }, { id: 'o3' });
    a.send(used);
    await b.next();
    await expectError({ ...used, payload: { sdp: 'x' } }, 'BAD_SIGNATURE', 'o3');
    await expectError(a.signal('BYE', offline.did, {}, { id: 'o3' }), 'REPLAY', 'o3');
  });
  it('REPLAY holds across sessions of the same DID', async () => {
    const f = a.signal('OFFER', b.did, { sdp: 'v=0' }, { id: 'x-session' });
    a.send(f);
    expect(await b.next()).toEqual(f);
    const again = new TestAgent(a.secretKey);
    await again.register(gw.wsUrl);
    await a.closed; // replaced with 4409
    again.send(f);
    expect(await again.next()).toMatchObject({ type: 'ERROR', code: 'REPLAY', ref: 'x-session' });
    a = again;
  });
});

describe('ordering of replies', () => {
  it('answers frames in the order they came, whatever waits for verification', async () => {
    const valid = a.signal('OFFER', b.did, { sdp: 'v=0' }, { id: 'ord-1' });
    const tampered = { ...a.signal('OFFER', b.did, { sdp: 'v=0' }, { id: 'ord-2' }), payload: { sdp: 'v=1' } };
    a.send(tampered);
    a.send(valid);
    a.send({ type: 'PING', id: 'ord-ping' });
    a.send('nope');
    a.send(a.signal('ICE', offline.did, { candidate: '' }, { id: 'ord-3' }));
    a.send({ type: 'DISCOVER', id: 'ord-disc', capability: 'none' });
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await a.next());
    expect(replies.map((r) => [r.type, r.code ?? null, r.ref])).toEqual([
      ['ERROR', 'BAD_SIGNATURE', 'ord-2'],
      ['PONG', null, 'ord-ping'],
      ['ERROR', 'BAD_FRAME', null],
      ['ERROR', 'AGENT_NOT_FOUND', 'ord-3'],
      ['AGENTS', null, 'ord-disc'],
    ]);
    expect(await b.next()).toEqual(valid);
  });
});

describe('ordering behind a pending verdict', () => {
  it('keeps a frame behind one that waits for its verdict, though it could be verified at once', async () => {
    // S + L: refused without a verification, its verdict comes a microtask later. The valid
    // frame behind it, in the same read, could be verified and routed at once: it must not pass.
    const waiting = a.signal('OFFER', a.did, { sdp: 'v=0' }, { id: 'ord-sl' });
    const next = a.signal('OFFER', a.did, { sdp: 'v=0' }, { id: 'ord-after' });
    sendInOneWrite(a, [{ ...waiting, sig: malleate(waiting.sig as string) }, next]);
    expect(await a.next()).toMatchObject({ type: 'ERROR', code: 'BAD_SIGNATURE', ref: 'ord-sl' });
    expect(await a.next()).toEqual(next);
  });
});

describe('delivery', () => {
  it('delivers a BYE without payload and payload extras, signed end to end', async () => {
    const bye = signFrame(a.secretKey, { type: 'BYE', id: nextId(), from: a.did, to: b.did, ts: Date.now() });
    a.send(bye);
    expect(await b.next()).toEqual(bye);
    const ice = a.signal('ICE', b.did, { candidate: '', sdpMid: null, sdpMLineIndex: null, usernameFragment: null, extension: [{ k: '__proto__' }] });
    a.send(ice);
    expect(await b.next()).toEqual(ice);
  });

  it('keeps the order of 300 frames per sender→target pair, interleaved with another sender', async () => {
    // Its own gateway with a burst large enough for 2 × 300 frames sent at once.
    const big = await startGateway({ rateBurst: 1000 });
    const [s1, s2, target] = [new TestAgent(), new TestAgent(), new TestAgent()];
    for (const x of [s1, s2, target]) await x.register(big.wsUrl);
    const from1 = Array.from({ length: 300 }, (_, i) => s1.signal('ICE', target.did, { candidate: `a${i}` }));
    const from2 = Array.from({ length: 300 }, (_, i) => s2.signal('ICE', target.did, { candidate: `c${i}` }));
    for (const [i, f] of from1.entries()) {
      s1.send(f);
      s2.send(from2[i]);
    }
    const received: string[] = [];
    while (received.length < 600) received.push(((await target.next()).payload as { candidate: string }).candidate);
    expect(received.filter((x) => x.startsWith('a'))).toEqual(from1.map((_, i) => `a${i}`));
    expect(received.filter((x) => x.startsWith('c'))).toEqual(from2.map((_, i) => `c${i}`));
    expect(target.raw.slice(-600).filter((t) => t.includes('"a299"'))).toEqual([JSON.stringify(from1[299])]);
    expect(s1.inbox).toEqual([]);
    for (const x of [s1, s2, target]) x.close();
    await big.close();
  });
});
