/**
 * The ICE servers an agent gets (REGISTERED, and the GET_ICE_SERVERS → ICE_SERVERS request;
 * docs/protocol.md §6): the configured STUN servers, and the TURN servers with a credential bound
 * to the agent's DID in the TURN REST API scheme coturn implements (`use-auth-secret`):
 * username `<expiry, unix seconds>:<DID>`, credential base64(HMAC-SHA1(secret, username)).
 * The TURN server checks the HMAC with the same secret and refuses the credential after its
 * expiry; the DID in the username lets its logs and quotas name the agent. Nothing is stored:
 * every node of a cluster computes the same credentials from the same secret.
 */
import { createHmac } from 'node:crypto';
import type { Config } from './config.js';

/** RTCIceServer-shaped: ready for `new RTCPeerConnection({ iceServers })`. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface IceServerGrant {
  iceServers: IceServer[];
  /** When the TURN credential stops working (ms since epoch); null without TURN. */
  expiresAt: number | null;
}

type IceConfig = Pick<Config, 'stunUrls' | 'turnUrls' | 'turnSecret' | 'turnTtlMs'>;

/** True when there is anything to hand out. */
export function iceConfigured(config: IceConfig): boolean {
  return config.stunUrls.length > 0 || config.turnUrls.length > 0;
}

/** The TURN REST API credential for `username` (coturn: static-auth-secret). */
export function turnCredential(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/** The ICE servers for agent `did` at time `now` (ms). */
export function iceServersFor(config: IceConfig, did: string, now: number): IceServerGrant {
  const iceServers: IceServer[] = [];
  if (config.stunUrls.length > 0) iceServers.push({ urls: [...config.stunUrls] });
  let expiresAt: number | null = null;
  if (config.turnUrls.length > 0 && config.turnSecret !== undefined) {
    const expiry = Math.floor((now + config.turnTtlMs) / 1000);
    const username = `${expiry}:${did}`;
    iceServers.push({ urls: [...config.turnUrls], username, credential: turnCredential(config.turnSecret, username) });
    expiresAt = expiry * 1000;
  }
  return { iceServers, expiresAt };
}
