/**
 * Glue between a GatewayClient and a werift RTCPeerConnection: the OFFER / ANSWER / ICE / BYE
 * exchange with one peer, in the order WebRTC needs it.
 *
 * Why a queue on each side:
 * - Outgoing: werift starts gathering inside setLocalDescription(), so candidates can exist before
 *   the OFFER (or ANSWER) is sent. The gateway delivers in order per sender→target pair
 *   (docs/protocol.md §5), so holding candidates until the description is on the wire guarantees the
 *   peer sees the description first.
 * - Incoming: frames are emitted synchronously while the RTCPeerConnection calls are async; one
 *   promise chain applies them strictly in arrival order (a candidate never races ahead of the
 *   setRemoteDescription() it depends on).
 *
 * Every frame handled here has already been verified end to end by GatewayClient (signature of
 * `from`, addressed to us, fresh, not replayed); the glue only checks that it comes from `peer`.
 *
 * In your own project, import from 'aiconexus-gateway/client' instead of '../src/client/index.js'.
 */
import { RTCPeerConnection, type RTCIceCandidate, type RTCPeerConnectionConfig } from 'werift';
import type { GatewayClient, IcePayload, SignalFrame } from '../src/client/index.js';

/**
 * werift settings that keep ICE on 127.0.0.1: no STUN/TURN server (werift's default is a public
 * STUN server), no interface addresses, only the loopback address as a host candidate, sockets
 * bound to it, candidate pairs only towards loopback peers, and connectivity checks answered only
 * when they come from loopback (a browser would otherwise also pair its LAN address with our
 * 127.0.0.1 candidate, and may prefer that pair).
 */
export const LOOPBACK_ONLY: RTCPeerConnectionConfig = {
  iceServers: [],
  iceUseIpv4: false,
  iceUseIpv6: false,
  iceAdditionalHostAddresses: ['127.0.0.1'],
  iceInterfaceAddresses: { udp4: '127.0.0.1' },
  iceFilterCandidatePair: (pair) => pair.remoteCandidate.host === '127.0.0.1',
  iceFilterStunResponse: (_message, [host]) => host === '127.0.0.1',
};

/** True for an ICE candidate line on 127.0.0.1, or for end-of-candidates (`""`). */
export function isLoopbackCandidate(candidate: string): boolean {
  if (candidate === '') return true;
  // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> …
  const address = candidate.replace(/^candidate:/, '').split(' ')[4];
  return address === '127.0.0.1';
}

/** True for a candidate whose address is an mDNS name (`….local`), as browsers send by default. */
export function isMdnsCandidate(candidate: string): boolean {
  return /\.local$/i.test(candidate.replace(/^candidate:/, '').split(' ')[4] ?? '');
}

export interface PeerLinkOptions {
  /** Drop remote candidates that are not on 127.0.0.1 (tests). Default false. */
  loopbackOnly?: boolean;
  /** Called with any error of the RTCPeerConnection calls. Default: none (errors are kept in `errors`). */
  onError?: (err: Error) => void;
}

/**
 * Signaling between `client` and one `peer` DID for one RTCPeerConnection.
 * @example
 * const link = new PeerLink(client, pc, peerDid);
 * const channel = pc.createDataChannel('chat');
 * await link.call();            // the offerer; the answerer only constructs its PeerLink
 */
export class PeerLink {
  /** Errors of setRemoteDescription / addIceCandidate / createAnswer, in order. */
  readonly errors: Error[] = [];
  /** Resolves when the peer sends BYE (with its reason). */
  readonly remoteBye: Promise<string | undefined>;
  private incoming: Promise<void> = Promise.resolve();
  private outgoing: IcePayload[] | null = [];
  private readonly offs: Array<() => void> = [];
  private readonly unsubscribeIce: () => void;
  private closed = false;

  constructor(
    private readonly client: GatewayClient,
    private readonly pc: RTCPeerConnection,
    private readonly peer: string,
    private readonly options: PeerLinkOptions = {},
  ) {
    let byeResolve: (reason: string | undefined) => void = () => {};
    this.remoteBye = new Promise((resolve) => (byeResolve = resolve));
    this.offs.push(
      client.on('signal', (frame) => {
        if (frame.from !== this.peer || this.closed) return;
        if (frame.type === 'BYE') byeResolve(frame.payload?.reason);
        this.incoming = this.incoming.then(() => this.apply(frame)).catch((err: unknown) => this.fail(err));
      }),
    );
    const { unSubscribe } = pc.onIceCandidate.subscribe((candidate) => this.sendCandidate(candidate));
    this.unsubscribeIce = unSubscribe;
  }

  /** Creates the offer, applies it locally and sends it as OFFER. */
  async call(): Promise<void> {
    await this.pc.setLocalDescription(await this.pc.createOffer());
    this.sendDescription('offer');
  }

  /** Sends BYE to the peer (when still connected) and stops handling its frames. */
  hangUp(reason = 'done'): void {
    if (this.client.state === 'connected' && !this.closed) this.client.bye(this.peer, { reason });
    this.dispose();
  }

  /** Stops handling frames and local candidates (does not close the RTCPeerConnection). */
  dispose(): void {
    this.closed = true;
    for (const off of this.offs.splice(0)) off();
    this.unsubscribeIce();
  }

  private async apply(frame: SignalFrame): Promise<void> {
    switch (frame.type) {
      case 'OFFER':
        await this.pc.setRemoteDescription({ type: 'offer', sdp: frame.payload.sdp });
        await this.pc.setLocalDescription(await this.pc.createAnswer());
        this.sendDescription('answer');
        return;
      case 'ANSWER':
        await this.pc.setRemoteDescription({ type: 'answer', sdp: frame.payload.sdp });
        return;
      case 'ICE': {
        const { candidate, sdpMid, sdpMLineIndex } = frame.payload;
        if (this.options.loopbackOnly && !isLoopbackCandidate(candidate)) return;
        // "" = end of candidates (docs/protocol.md §5); werift takes it as an end-of-candidates marker.
        const added = this.pc.addIceCandidate({ candidate, sdpMid: sdpMid ?? undefined, sdpMLineIndex: sdpMLineIndex ?? undefined });
        // A browser's mDNS candidate (`<uuid>.local`): werift resolves the name inside
        // addIceCandidate and gives up after ~10 s when nobody answers (another network). Waiting
        // for it would hold every later frame of this peer for that long (measured: Chromium ↔ werift
        // across NATs connected in 10.5 s instead of 0.4 s), so it is added on the side.
        if (isMdnsCandidate(candidate)) added.catch((err: unknown) => this.fail(err));
        else await added;
        return;
      }
      case 'BYE':
        this.dispose();
        await this.pc.close();
        return;
    }
  }

  private sendDescription(type: 'offer' | 'answer'): void {
    const sdp = this.pc.localDescription?.sdp;
    if (sdp === undefined) throw new Error(`no local ${type} to send`);
    if (type === 'offer') this.client.offer(this.peer, { type, sdp });
    else this.client.answer(this.peer, { type, sdp });
    const queued = this.outgoing ?? [];
    this.outgoing = null;
    for (const payload of queued) this.client.ice(this.peer, payload);
  }

  private sendCandidate(candidate: RTCIceCandidate | undefined): void {
    if (this.closed) return;
    // werift signals the end of gathering with `undefined`; on the wire that is candidate "".
    const json = candidate?.toJSON();
    const payload: IcePayload = json
      ? { candidate: json.candidate, sdpMid: json.sdpMid ?? null, sdpMLineIndex: json.sdpMLineIndex ?? null }
      : { candidate: '' };
    if (this.outgoing) this.outgoing.push(payload);
    else if (this.client.state === 'connected') this.client.ice(this.peer, payload);
  }

  private fail(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.errors.push(error);
    this.options.onError?.(error);
  }
}

/** A werift RTCPeerConnection that stays on 127.0.0.1 (see LOOPBACK_ONLY). */
export function loopbackPeerConnection(): RTCPeerConnection {
  return new RTCPeerConnection(LOOPBACK_ONLY);
}
