/**
 * The ordered checks of a REGISTER frame (PROTOCOL.md §3) and of a signaling frame (§4).
 * Each failure throws a {@link ProtocolError} carrying the code the protocol assigns to it.
 */
import type { Histogram } from 'prom-client';
import { ProtocolError } from '../errors.js';
import { signedBytes } from '../protocol/canonical.js';
import { refOf, schemaError } from '../protocol/codec.js';
import { registerSchema, signalingSchemas, type RegisterFrame, type SignalingType } from '../protocol/frames.js';
import type { ReplayCache } from './replay-cache.js';
import { decodeSignature, importAgentKey, verifySignature, type AgentKey } from './verify.js';

export interface RegisterContext {
  /** The nonce of this connection's CHALLENGE. */
  nonce: string;
  gatewayId: string;
  now: number;
  clockSkewMs: number;
  verifyMetrics?: Histogram;
}

/** Checks a REGISTER frame; returns it with the agent's key, or throws AUTH_FAILED. */
export function checkRegister(frame: Record<string, unknown>, ctx: RegisterContext): { frame: RegisterFrame; key: AgentKey } {
  const parsed = registerSchema.safeParse(frame);
  if (!parsed.success) throw new ProtocolError('AUTH_FAILED', null, `bad REGISTER: ${schemaError(parsed.error)}`);
  const reg = parsed.data;
  if (reg.nonce !== ctx.nonce) throw new ProtocolError('AUTH_FAILED', null, 'nonce is not this connection\'s challenge');
  if (reg.aud !== ctx.gatewayId) throw new ProtocolError('AUTH_FAILED', null, 'aud is not this gateway\'s id');
  if (Math.abs(ctx.now - reg.ts) > ctx.clockSkewMs) throw new ProtocolError('AUTH_FAILED', null, 'ts is outside the allowed clock skew');
  const key = importAgentKey(reg.did);
  if (!key) throw new ProtocolError('AUTH_FAILED', null, 'did is not a valid Ed25519 did:key');
  if (!verifyFrame(key, frame, reg.sig, ctx.verifyMetrics)) throw new ProtocolError('AUTH_FAILED', null, 'signature does not verify');
  return { frame: reg, key };
}

export interface SignalingContext {
  /** The session's DID and cached key. */
  did: string;
  key: AgentKey;
  now: number;
  clockSkewMs: number;
  replay: ReplayCache;
  verifyMetrics?: Histogram;
}

/**
 * Checks a signaling frame in the order of PROTOCOL.md §4: schema → sender → freshness →
 * signature → replay. Returns its id and target; the caller routes it.
 */
export function checkSignaling(
  type: SignalingType,
  frame: Record<string, unknown>,
  ctx: SignalingContext,
): { id: string; to: string } {
  const parsed = signalingSchemas[type].safeParse(frame);
  if (!parsed.success) throw new ProtocolError('BAD_FRAME', refOf(frame), schemaError(parsed.error));
  const { id, from, to, ts, sig } = parsed.data;
  if (from !== ctx.did) throw new ProtocolError('SENDER_MISMATCH', id);
  if (Math.abs(ctx.now - ts) > ctx.clockSkewMs) throw new ProtocolError('STALE', id);
  if (!verifyFrame(ctx.key, frame, sig, ctx.verifyMetrics)) throw new ProtocolError('BAD_SIGNATURE', id);
  if (!ctx.replay.add(from, id, ts + ctx.clockSkewMs)) throw new ProtocolError('REPLAY', id);
  return { id, to };
}

function verifyFrame(key: AgentKey, frame: Record<string, unknown>, sig: string, histogram?: Histogram): boolean {
  const signature = decodeSignature(sig);
  if (!signature) return false;
  const end = histogram?.startTimer();
  const ok = verifySignature(key, signedBytes(frame), signature);
  end?.();
  return ok;
}
