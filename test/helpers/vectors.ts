/** The docs/protocol.md §13 test vector (keys are RFC 8032 §7.1 tests 1 and 2), shared by tests and docs. */

export const SECRET_A_HEX = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
export const PUBLIC_A_HEX = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
export const DID_A = 'did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw';
export const DID_B = 'did:key:z6MkiaMbhXHNA4eJVCCj8dbzKzTgYDKf6crKgHVHid1F1WCT';
export const SIG_9 = '9dCBys9TVF5HqcntZ5p3xiK2zLaGNNi3LKYen65Ll1IZK5ffCr6Y_VZ9zrJqez4j8nl294QixdAZHGlC2rJbBQ';

export interface OfferVector extends Record<string, unknown> {
  type: string;
  id: string;
  from: string;
  to: string;
  ts: number;
  payload: { type: string; sdp: string };
  sig: string;
}

/** The §9 OFFER as sent (a fresh copy each call, so tests may mutate it). */
export function offerVector(): OfferVector {
  return {
    type: 'OFFER',
    id: 'offer-1',
    from: DID_A,
    to: DID_B,
    ts: 1764028800000,
    payload: { type: 'offer', sdp: 'v=0\r\n' },
    sig: SIG_9,
  };
}
