/**
 * Baseline: the raw node:crypto Ed25519 verification ceiling on this machine, for frames the size
 * the load generator sends (the JCS bytes of a signed ICE / OFFER frame).
 *
 * - one core, sync: crypto.verify in a loop with a cached KeyObject;
 * - all cores, async: the callback form of crypto.verify (runs on the libuv threadpool; the
 *   orchestrator starts this process with UV_THREADPOOL_SIZE = number of cores), many in flight.
 *
 * Started by bench/run.ts: `{cmd:'run', durationMs, kind}` → `{type:'result', ...}`.
 */
import { availableParallelism } from 'node:os';
import { sign, verify } from 'node:crypto';
import { ed25519Verifier, type Ed25519Verifier } from '../src/identity/ed25519.js';
import { importAgentKey } from '../src/identity/verify.js';
import { signedBytes } from '../src/protocol/canonical.js';
import { newAgentKeys, signalingFrame, type FrameKind } from './lib/agent.js';
import { fromParent, toParent } from './lib/ipc.js';

interface Rate {
  verifies: number;
  ms: number;
  perSecond: number;
}

function fixtures(kind: FrameKind, count: number) {
  const sender = newAgentKeys();
  const receiver = newAgentKeys();
  // The verifier's cached key, built the way the gateway builds it (JWK import of the raw key).
  const agentKey = importAgentKey(sender.did);
  if (!agentKey) throw new Error('cannot import the sender key');
  const publicKey = agentKey.keyObject;
  const messages: Uint8Array[] = [];
  const signatures: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const message = signedBytes(signalingFrame(kind, `c${i}`, sender.did, receiver.did, Date.now()));
    messages.push(message);
    signatures.push(sign(null, message, sender.privateKey));
  }
  return { publicKey, raw: agentKey.publicKey, messages, signatures, bytes: messages[0]?.length ?? 0 };
}

function syncRate(f: ReturnType<typeof fixtures>, durationMs: number, verifier?: Ed25519Verifier): Rate {
  const n = f.messages.length;
  const check = verifier
    ? (i: number) => verifier.verify(f.raw, f.messages[i] as Uint8Array, f.signatures[i] as Buffer)
    : (i: number) => verify(null, f.messages[i] as Uint8Array, f.publicKey, f.signatures[i] as Buffer);
  let count = 0;
  const start = performance.now();
  let now = start;
  while (now - start < durationMs) {
    for (let k = 0; k < 64; k++, count++) {
      if (!check(count % n)) throw new Error('verify failed');
    }
    now = performance.now();
  }
  return { verifies: count, ms: now - start, perSecond: (count / (now - start)) * 1000 };
}

function asyncRate(f: ReturnType<typeof fixtures>, durationMs: number, inFlight: number): Promise<Rate> {
  const n = f.messages.length;
  return new Promise((resolve, reject) => {
    let issued = 0;
    let completed = 0;
    let outstanding = 0;
    let stopped = false;
    const start = performance.now();
    let end = start;
    const issue = () => {
      const i = issued++ % n;
      outstanding++;
      verify(null, f.messages[i] as Uint8Array, f.publicKey, f.signatures[i] as Buffer, (err, ok) => {
        outstanding--;
        if (err || !ok) {
          stopped = true;
          return reject(err ?? new Error('verify failed'));
        }
        if (stopped) {
          if (outstanding === 0) resolve({ verifies: completed, ms: end - start, perSecond: (completed / (end - start)) * 1000 });
          return;
        }
        completed++;
        if (performance.now() - start >= durationMs) {
          stopped = true;
          end = performance.now();
          if (outstanding === 0) resolve({ verifies: completed, ms: end - start, perSecond: (completed / (end - start)) * 1000 });
          return;
        }
        issue();
      });
    };
    for (let k = 0; k < inFlight; k++) issue();
  });
}

fromParent((msg) => {
  if (msg.cmd !== 'run') return;
  const durationMs = Number(msg.durationMs);
  const kind = msg.kind as FrameKind;
  void (async () => {
    const f = fixtures(kind, 64);
    syncRate(f, Math.min(200, durationMs / 5)); // warm-up
    const sync = syncRate(f, durationMs);
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    await asyncRate(f, Math.min(200, durationMs / 5), threads * 32); // warm-up
    const async = await asyncRate(f, durationMs, threads * 32);
    const sodium = ed25519Verifier('auto');
    const libsodium = sodium.backend === 'libsodium' ? syncRate(f, durationMs, sodium) : null;
    toParent({ type: 'result', messageBytes: f.bytes, cores: availableParallelism(), uvThreadpoolSize: threads, sync, async, libsodium });
  })().catch((err: Error) => toParent({ type: 'error', message: err.stack ?? err.message }));
});
toParent({ type: 'ready' });
