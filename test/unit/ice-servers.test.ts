/** src/ice-servers.ts: the TURN REST API credential coturn checks, and what an agent is handed. */
import { describe, expect, it } from 'vitest';
import { iceConfigured, iceServersFor, turnCredential } from '../../src/ice-servers.js';

const DID = 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK';
const SECRET = '0123456789abcdef-secret';

describe('TURN credentials', () => {
  it('is base64(HMAC-SHA1(secret, username)), as coturn computes it (vector from Python hmac)', () => {
    // python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(b'0123456789abcdef-secret',
    //   b'1764032400:did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK', hashlib.sha1).digest()).decode())"
    expect(turnCredential(SECRET, `1764032400:${DID}`)).toBe('ASAW3ETCScl4lEx+5PP3E/0wftM=');
  });

  it('binds the username to the DID and the expiry (now + TURN_TTL, whole seconds)', () => {
    const now = 1_764_028_800_123;
    const grant = iceServersFor({ stunUrls: ['stun:s.example.com'], turnUrls: ['turn:t.example.com:3478?transport=udp'], turnSecret: SECRET, turnTtlMs: 3_600_000 }, DID, now);
    expect(grant.expiresAt).toBe(1_764_032_400_000);
    expect(grant.iceServers).toEqual([
      { urls: ['stun:s.example.com'] },
      { urls: ['turn:t.example.com:3478?transport=udp'], username: `1764032400:${DID}`, credential: 'ASAW3ETCScl4lEx+5PP3E/0wftM=' },
    ]);
  });

  it('hands out STUN alone without credentials, and nothing when nothing is configured', () => {
    const stunOnly = { stunUrls: ['stun:s.example.com'], turnUrls: [], turnSecret: undefined, turnTtlMs: 3_600_000 };
    expect(iceServersFor(stunOnly, DID, 0)).toEqual({ iceServers: [{ urls: ['stun:s.example.com'] }], expiresAt: null });
    const none = { stunUrls: [], turnUrls: [], turnSecret: undefined, turnTtlMs: 3_600_000 };
    expect(iceConfigured(none)).toBe(false);
    expect(iceServersFor(none, DID, 0)).toEqual({ iceServers: [], expiresAt: null });
  });
});
