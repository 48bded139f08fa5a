/**
 * aiconexus-gateway/client: the agent side of the AIConexus signaling protocol.
 * Browser-safe: nothing under src/client imports a `node:` module.
 *
 * @example
 * import { GatewayClient, generateKeyPair } from 'aiconexus-gateway/client';
 * const client = new GatewayClient({ url: 'ws://127.0.0.1:8000/ws', key: generateKeyPair() });
 * client.on('offer', (frame) => client.answer(frame.from, { type: 'answer', sdp: mySdp }));
 * await client.connect();
 */
export {
  DEFAULT_GATEWAY_ID,
  GatewayClient,
  type AgentInfo,
  type AnswerFrame,
  type ByeFrame,
  type ByePayload,
  type ClientState,
  type ClosedInfo,
  type DisconnectInfo,
  type GatewayClientEvents,
  type GatewayClientOptions,
  type IceFrame,
  type IceServer,
  type IceServersInfo,
  type IcePayload,
  type InvalidFrameInfo,
  type InvalidReason,
  type OfferFrame,
  type ReconnectingInfo,
  type SdpPayload,
  type SessionInfo,
  type SignalFrame,
} from './client.js';
export { ClientError, GatewayError, GatewayMismatchError, type ClientErrorCode } from './errors.js';
export { DEFAULT_REPLAY_LIMITS, type ReplayLimits } from './replay.js';
export {
  didFromKey,
  exportJwk,
  exportRawKey,
  fromBase64url,
  generateKeyPair,
  importJwk,
  importRawKey,
  signFrame,
  toBase64url,
  verifyFrame,
  type Ed25519PrivateJwk,
  type KeyPair,
} from './keys.js';
export { backoffDelay, DEFAULT_RECONNECT, type ReconnectOptions } from './backoff.js';
export { TypedEmitter } from './emitter.js';
export type { WebSocketConstructor, WebSocketLike } from './transport.js';
export { CloseCode, errorTable, type ErrorCode } from '../errors.js';
export { PROTOCOL_VERSION, type AgentMeta } from '../protocol/frames.js';
