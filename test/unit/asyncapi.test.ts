/** docs/asyncapi.yaml is generated from the zod frame schemas and must match the generator byte for byte. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ZodMiniType } from 'zod/mini';
import { ASYNCAPI_PATH, generateAsyncApi } from '../../scripts/gen-asyncapi.js';
import { CloseCode, errorCodes, errorTable } from '../../src/errors.js';
import {
  CLIENT_TYPES,
  SERVER_TYPES,
  SIGNALING_TYPES,
  agentsSchema,
  answerSchema,
  byeSchema,
  challengeSchema,
  discoverSchema,
  errorSchema,
  iceSchema,
  offerSchema,
  pingSchema,
  getIceServersSchema,
  iceServersSchema,
  pongSchema,
  registerSchema,
  registeredSchema,
} from '../../src/protocol/frames.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;

const generated = generateAsyncApi();
const doc: Doc = parse(generated);

const frameSchemas: Record<string, ZodMiniType> = {
  REGISTER: registerSchema,
  OFFER: offerSchema,
  ANSWER: answerSchema,
  ICE: iceSchema,
  BYE: byeSchema,
  DISCOVER: discoverSchema,
  PING: pingSchema,
  GET_ICE_SERVERS: getIceServersSchema,
  CHALLENGE: challengeSchema,
  REGISTERED: registeredSchema,
  AGENTS: agentsSchema,
  PONG: pongSchema,
  ICE_SERVERS: iceServersSchema,
  ERROR: errorSchema,
};

/** Follows a local `$ref` such as `#/components/messages/PING`. */
function resolve(ref: string): Doc {
  expect(ref.startsWith('#/'), ref).toBe(true);
  let node: Doc = doc;
  for (const part of ref.slice(2).split('/')) {
    node = node?.[part.replaceAll('~1', '/').replaceAll('~0', '~')];
    expect(node, `unresolved $ref ${ref}`).toBeDefined();
  }
  return node;
}

function refsIn(node: Doc, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const x of node) refsIn(x, out);
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

/** Follows `$ref` chains (an operation's message → the channel's message → the component). */
function deref(node: Doc): Doc {
  while (node !== null && typeof node === 'object' && typeof node.$ref === 'string') node = resolve(node.$ref);
  return node;
}

const messageNames = (operation: Doc): string[] => operation.messages.map((m: Doc) => deref(m).name);

describe('docs/asyncapi.yaml', () => {
  it('is up to date with the frame schemas (byte for byte)', () => {
    let committed: string | null = null;
    try {
      committed = readFileSync(ASYNCAPI_PATH, 'utf8');
    } catch {
      // reported below
    }
    if (committed !== generated) expect.fail('docs/asyncapi.yaml is stale: run npm run gen:asyncapi');
  });

  it('is deterministic', () => {
    expect(generateAsyncApi()).toBe(generated);
  });

  it('is an AsyncAPI 3.0.0 document with the /ws channel on the gateway server', () => {
    expect(doc.asyncapi).toBe('3.0.0');
    expect(doc.servers.gateway).toMatchObject({ host: '127.0.0.1:8000', protocol: 'ws' });
    expect(doc.channels.ws.address).toBe('/ws');
    for (const ref of refsIn(doc)) resolve(ref);
  });

  it('receives every client frame type and sends every server type plus the routed signaling frames', () => {
    const ops = Object.values(doc.operations) as Doc[];
    const receive = ops.filter((o) => o.action === 'receive').flatMap(messageNames);
    const send = ops.filter((o) => o.action === 'send').flatMap(messageNames);
    expect(receive.sort()).toEqual([...CLIENT_TYPES].sort());
    expect(send.sort()).toEqual([...SERVER_TYPES, ...SIGNALING_TYPES].sort());
    for (const type of [...CLIENT_TYPES, ...SERVER_TYPES]) {
      const payload = resolve(doc.components.messages[type].payload.$ref);
      expect(payload.properties.type.const, type).toBe(type);
    }
  });

  it('enumerates every error code with its message and close code, and every close code', () => {
    const error = doc.components.messages.ERROR;
    expect(resolve(error.payload.$ref).properties.code.enum).toEqual(errorCodes);
    for (const code of errorCodes) {
      expect(error['x-error-codes'][code]).toEqual({ message: errorTable[code].message, close: errorTable[code].close });
      expect(doc.info.description).toContain(`| ${code} |`);
    }
    for (const [name, code] of Object.entries(CloseCode)) {
      expect(doc.channels.ws['x-close-codes'][String(code)].name).toBe(name);
      expect(doc.info.description).toContain(`| ${code} | ${name} |`);
    }
  });

  it('notes the refine() checks JSON Schema cannot express', () => {
    const register = doc.components.schemas.RegisterFrame;
    expect(register.properties.meta.description).toContain('4096 bytes');
    expect(register.properties.meta.properties.name).toMatchObject({ maxLength: 64 });
    expect(register.properties.meta.properties.name.description).toContain('UTF-16');
    expect(doc.components.schemas.OfferFrame.properties.to.description).toContain('Ed25519 did:key');
  });

  it('has examples the zod schemas accept', () => {
    let count = 0;
    for (const [type, message] of Object.entries(doc.components.messages) as [string, Doc][]) {
      for (const example of message.examples ?? []) {
        const result = frameSchemas[type]?.safeParse(example.payload);
        expect(result?.success, `${type} example ${example.name}`).toBe(true);
        count++;
      }
    }
    expect(count).toBeGreaterThan(0);
  });
});
