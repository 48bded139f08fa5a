/**
 * A minimal agent: connects to a gateway, lists the agents online, sends an OFFER to a peer given
 * on the command line, and prints every verified frame it receives (answering OFFERs).
 *
 *   npx tsx examples/node-agent.ts [--url ws://127.0.0.1:8000/ws] [--gateway-id ID] [--key agent.json] [PEER_DID]
 *
 * `--key` takes a key file from `aiconexus keygen --out agent.json`; without it the agent uses a
 * fresh key for this run. Run it twice (the second time with the first one's DID) to see an
 * OFFER go one way and the ANSWER come back. In your own project, import from
 * 'aiconexus-gateway/client' instead of '../src/client/index.js'.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { fromBase64url, GatewayClient, generateKeyPair, importRawKey, type KeyPair } from '../src/client/index.js';

const { values, positionals } = parseArgs({
  options: { url: { type: 'string' }, 'gateway-id': { type: 'string' }, key: { type: 'string' }, name: { type: 'string' } },
  allowPositionals: true,
});
const url = values.url ?? process.env.GATEWAY_URL ?? 'ws://127.0.0.1:8000/ws';
const peer = positionals[0];

async function loadKey(path: string | undefined): Promise<KeyPair> {
  if (path === undefined) return generateKeyPair();
  const file = JSON.parse(await readFile(path, 'utf8')) as { secretKey: string };
  return importRawKey(fromBase64url(file.secretKey));
}

const client = new GatewayClient({
  url,
  // The gateway's GATEWAY_ID: the client refuses (without signing) a CHALLENGE naming another.
  gatewayId: values['gateway-id'] ?? (process.env.GATEWAY_ID || undefined),
  key: await loadKey(values.key),
  meta: { name: values.name ?? 'node-agent-example', capabilities: ['example'] },
});

client.on('connected', (info) => console.error(`connected as ${info.did} (session ${info.session})`));
client.on('reconnecting', ({ attempt, delayMs }) => console.error(`connection lost; retry ${attempt} in ${delayMs} ms`));
client.on('error', (err) => console.error(`gateway error ${err.code}: ${err.message}`));
client.on('invalid', ({ reason, message }) => console.error(`dropped a frame (${reason}): ${message}`));

// Every frame here has been verified against the sender's DID and addressed to us.
client.on('signal', (frame) => console.log(JSON.stringify(frame)));
client.on('offer', (frame) => {
  // A real agent would hand frame.payload to RTCPeerConnection.setRemoteDescription and answer with its own SDP.
  client.answer(frame.from, { type: 'answer', sdp: 'v=0\r\n' });
});

try {
  await client.connect();
  const agents = await client.discover({ capability: 'example' });
  console.error(`${agents.length} agent(s) online with capability "example":`);
  for (const agent of agents) console.error(`  ${agent.did} ${JSON.stringify(agent.meta)}`);
  if (peer) {
    const offer = client.offer(peer, { type: 'offer', sdp: 'v=0\r\n' });
    console.error(`sent OFFER ${offer.id} to ${peer}`);
  } else {
    console.error('no peer DID given: waiting for frames (Ctrl-C to stop)');
  }
} catch (err) {
  console.error(`cannot start: ${(err as Error).message}`);
  process.exitCode = 1;
  await client.close();
}

process.once('SIGINT', () => void client.close());
