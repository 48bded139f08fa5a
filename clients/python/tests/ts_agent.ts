/**
 * A TypeScript SDK agent for the Python interop tests (clients/python/tests/test_interop.py):
 * `node --import tsx clients/python/tests/ts_agent.ts URL [KEY_FILE]`.
 *
 * It registers with GatewayClient (capability `ts-agent`), then prints one JSON line per event on
 * stdout (`ready`, `signal` for every frame GatewayClient verified and emitted, `invalid`,
 * `error`, `sent`, `agents`) and takes one JSON command per line on stdin (`offer`, `answer`,
 * `ice`, `bye` with `to` and `payload`; `discover`; `close`). KEY_FILE is a key file as
 * `aiconexus keygen` (or the Python client's KeyPair.save) writes it.
 */
import { createInterface } from 'node:readline';
import { readKeyFile } from '../../../src/cli/key-file.js';
import { GatewayClient, generateKeyPair, verifyFrame, type SignalFrame } from '../../../src/client/index.js';

const [url, keyFile] = process.argv.slice(2);
if (!url) throw new Error('usage: ts_agent.ts URL [KEY_FILE]');
// Read as the `aiconexus` CLI reads `--key` (it checks "did" and "publicKey" against "secretKey").
const key = keyFile ? await readKeyFile(keyFile, (line) => process.stderr.write(`${line}\n`)) : generateKeyPair();
const out = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

const client = new GatewayClient({ url, key, meta: { name: 'ts-agent', capabilities: ['ts-agent'] }, reconnect: false });
client.on('signal', (frame) => out({ event: 'signal', frame, verified: verifyFrame(frame as unknown as Record<string, unknown>, frame.from) }));
client.on('invalid', (info) => out({ event: 'invalid', reason: info.reason, message: info.message }));
client.on('error', (err) => out({ event: 'error', code: err.code, message: err.message }));
await client.connect();
out({ event: 'ready', did: client.did });

const types: Record<string, SignalFrame['type']> = { offer: 'OFFER', answer: 'ANSWER', ice: 'ICE', bye: 'BYE' };
for await (const line of createInterface({ input: process.stdin })) {
  const command = JSON.parse(line) as { cmd: string; to?: string; payload?: object; capability?: string };
  const type = types[command.cmd];
  if (type !== undefined) {
    out({ event: 'sent', frame: client.signal(type, String(command.to), command.payload ?? {}) });
  } else if (command.cmd === 'discover') {
    out({ event: 'agents', agents: await client.discover(command.capability === undefined ? {} : { capability: command.capability }) });
  } else if (command.cmd === 'close') {
    break;
  }
}
await client.close();
out({ event: 'closed' });
