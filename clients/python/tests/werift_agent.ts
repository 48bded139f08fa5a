/**
 * A werift WebRTC agent for the Python aiortc test (clients/python/tests/test_webrtc.py):
 * `node --import tsx clients/python/tests/werift_agent.ts URL PEER_DID`.
 *
 * It registers with GatewayClient, answers PEER_DID's OFFER through the repository's PeerLink glue
 * (examples/webrtc-signaling.ts: ANSWER, trickled ICE with end-of-candidates, ICE kept on
 * 127.0.0.1), and echoes every data channel message as `echo: <message>`. JSON lines on stdout:
 * `ready`, `signal` (verified frames), `channel`, `message`, `invalid`, `error`, `closed`.
 */
import { createInterface } from 'node:readline';
import { GatewayClient, generateKeyPair } from '../../../src/client/index.js';
import { loopbackPeerConnection, PeerLink } from '../../../examples/webrtc-signaling.js';

const [url, peer] = process.argv.slice(2);
if (!url || !peer) throw new Error('usage: werift_agent.ts URL PEER_DID');
const out = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const client = new GatewayClient({ url, key: generateKeyPair(), meta: { name: 'werift-agent' }, reconnect: false });
client.on('signal', (frame) => out({ event: 'signal', type: frame.type, id: frame.id, from: frame.from, payload: frame.payload }));
client.on('invalid', (info) => out({ event: 'invalid', reason: info.reason, message: info.message }));
client.on('error', (err) => out({ event: 'error', code: err.code, message: err.message }));
await client.connect();

const pc = loopbackPeerConnection();
const link = new PeerLink(client, pc, peer, { loopbackOnly: true, onError: (err) => out({ event: 'error', code: 'PEER_LINK', message: err.message }) });
pc.onDataChannel.subscribe((channel) => {
  out({ event: 'channel', label: channel.label });
  channel.onMessage.subscribe((data) => {
    const text = typeof data === 'string' ? data : data.toString('utf8');
    out({ event: 'message', text });
    channel.send(`echo: ${text}`);
  });
});
out({ event: 'ready', did: client.did });

// Runs until stdin says close (or ends), or the peer hangs up.
await Promise.race([
  link.remoteBye,
  (async () => {
    for await (const line of createInterface({ input: process.stdin })) if ((JSON.parse(line) as { cmd: string }).cmd === 'close') break;
  })(),
]);
link.dispose();
await pc.close();
await client.close();
out({ event: 'closed' });
process.exit(0);
