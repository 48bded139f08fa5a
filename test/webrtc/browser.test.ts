/**
 * A real WebRTC data channel between a browser and a Node agent, negotiated through a real gateway.
 *
 * - The browser side is headless Debian Chromium (driven by playwright-core) running
 *   test/webrtc/browser-page.html, which loads the browser bundle of the client
 *   (what `node scripts/build-browser-client.mjs` writes to dist-browser/aiconexus-client.js; built
 *   here in beforeAll by that script, into a temp dir so a test run leaves nothing in the work tree)
 *   and uses the browser's own WebSocket and RTCPeerConnection.
 * - The Node side is a werift RTCPeerConnection with a GatewayClient, in this test process
 *   (examples/webrtc-signaling.ts).
 * - The browser offers a data channel; werift answers; both trickle ICE (candidate "" = end of
 *   candidates); one message goes each way; the browser hangs up with BYE.
 * - The page and the bundle come from a node:http server on 127.0.0.1 port 0, and the gateway only
 *   admits that origin (ALLOWED_ORIGINS), as a deployment serving a web app would.
 * - ICE stays on 127.0.0.1: no STUN/TURN servers, Chromium allowed to use loopback
 *   (--allow-loopback-in-peer-connection) and to show raw addresses instead of mDNS names
 *   (WebRtcHideLocalIpsWithMdns off), and both sides send and apply only 127.0.0.1 candidates.
 *   The page's origin is granted camera/microphone permission (no device is opened): without
 *   it Chromium enumerates only the default-route interface (here eth0), never the loopback one,
 *   so it would have no 127.0.0.1 candidate to trickle. werift answers connectivity checks only
 *   from 127.0.0.1 (LOOPBACK_ONLY), so Chromium cannot settle on a LAN-address → loopback pair.
 *
 * Chromium is required, not optional: without it this suite fails (CI installs it with
 * `apt-get install -y chromium`). CHROMIUM_PATH overrides /usr/bin/chromium.
 *
 * The second suite holds the bundle to its size budget (scripts/build-browser-client.mjs, BUDGET;
 * docs/client.md, "Browser bundle size") and needs no browser: within budget, zod's English
 * messages still in it, and over budget a failed build that names what takes the room.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { RTCDataChannel } from 'werift';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient, generateKeyPair } from '../../src/client/index.js';
import { nextMessage, withTimeout } from '../../examples/webrtc-pair.js';
import { loopbackPeerConnection, PeerLink } from '../../examples/webrtc-signaling.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];
const PAGE = join(ROOT, 'test/webrtc/browser-page.html');

/** What the page's agent.call() returns. */
interface CallReport {
  reply: string;
  /** Every candidate Chromium gathered (only the 127.0.0.1 ones are sent). */
  gathered: string[];
  connectMs: number;
  sent: { ice: string[] };
  received: { types: string[]; ice: string[] };
  errors: string[];
  selectedPair?: { local: string; remote: string; state: string };
}
/** window of browser-page.html (the test's tsconfig has no DOM lib). */
interface AgentWindow {
  agentReady?: boolean;
  agent: {
    connect(url: string): Promise<string>;
    call(peer: string, options: { timeoutMs: number }): Promise<CallReport>;
    hangUp(): Promise<void>;
    /** The report of the running call, still updated after call() has returned. */
    current?: CallReport;
  };
}

/** Serves the test page and the bundle (with its source map) on 127.0.0.1, port 0. */
async function startPageServer(bundle: string): Promise<{ server: Server; origin: string }> {
  const files: Record<string, { path: string; type: string }> = {
    '/': { path: PAGE, type: 'text/html; charset=utf-8' },
    '/aiconexus-client.js': { path: bundle, type: 'text/javascript; charset=utf-8' },
    '/aiconexus-client.js.map': { path: `${bundle}.map`, type: 'application/json' },
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://x').pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    readFile(file.path).then(
      (body) => res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { server, origin: `http://127.0.0.1:${port}` };
}

describe('WebRTC through the gateway: Chromium ↔ werift', () => {
  let gw: TestGateway | undefined;
  let server: Server | undefined;
  let origin = '';
  let workDir: string | undefined;
  let context: BrowserContext | undefined;

  // A set-up failure (above all: no Chromium) is rethrown by the test itself, so it counts as a
  // failed test rather than a skipped one under a failed hook.
  let setupError: unknown;

  beforeAll(async () => {
    try {
      await setUp();
    } catch (err) {
      setupError = err;
    }
  }, 90_000);

  async function setUp(): Promise<void> {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium not found at ${CHROMIUM}: this test needs it. Install it with 'apt-get install -y chromium' ` +
          `(Debian package; CI does this), or set CHROMIUM_PATH to a Chromium/Chrome binary.`,
      );
    }
    // The bundle the page loads: built fresh each run so `npm test` works on a clean clone.
    workDir = await mkdtemp(join(tmpdir(), 'aiconexus-browser-test-'));
    const bundle = join(workDir, 'bundle/aiconexus-client.js');
    await promisify(execFile)(process.execPath, [join(ROOT, 'scripts/build-browser-client.mjs'), '--outfile', bundle], { cwd: ROOT, timeout: 60_000 });
    ({ server, origin } = await startPageServer(bundle));
    gw = await startGateway({ allowedOrigins: [origin] });
    context = await chromium.launchPersistentContext(join(workDir, 'chromium-profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      timeout: 30_000,
    });
  }

  afterAll(async () => {
    await context?.close().catch(() => {});
    if (server) {
      const closing = new Promise((resolve) => server?.close(resolve));
      server.closeAllConnections();
      await closing;
    }
    await gw?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }, 30_000);

  it('opens a data channel between the browser bundle and a werift agent', { timeout: 45_000 }, async () => {
    if (setupError !== undefined) throw setupError;
    if (!context || !gw) throw new Error('set-up did not finish');
    const pageLog: string[] = [];
    const page: Page = await context.newPage();
    page.on('console', (msg) => pageLog.push(`${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => pageLog.push(`pageerror: ${err.message}`));
    const withPageLog = async <T>(what: Promise<T>): Promise<T> => {
      try {
        return await what;
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- page console ---\n${pageLog.join('\n')}`, { cause: err });
      }
    };

    await context.grantPermissions(['camera', 'microphone'], { origin });
    await page.goto(`${origin}/`, { timeout: 10_000 });
    await withPageLog(page.waitForFunction(() => (globalThis as unknown as AgentWindow).agentReady === true, null, { timeout: 10_000 }));

    // The Node agent: werift + GatewayClient, answering whatever the browser offers.
    const node = new GatewayClient({ url: gw.wsUrl, key: generateKeyPair(), meta: { name: 'werift-agent' }, reconnect: false });
    const pc = loopbackPeerConnection();
    let link: PeerLink | undefined;
    try {
      await withTimeout(node.connect(), 10_000, 'the werift agent to register');
      const browserDid = await withPageLog(page.evaluate((url) => (globalThis as unknown as AgentWindow).agent.connect(url), gw.wsUrl));
      expect(browserDid).toMatch(/^did:key:z6Mk/);

      link = new PeerLink(node, pc, browserDid, { loopbackOnly: true });
      const atWerift = new Promise<string>((resolve) => {
        pc.onDataChannel.subscribe((channel: RTCDataChannel) => {
          void nextMessage(channel).then((text) => {
            channel.send('hello from werift');
            resolve(text);
          });
        });
      });

      const report = await withPageLog(
        withTimeout(
          page.evaluate((peer) => (globalThis as unknown as AgentWindow).agent.call(peer, { timeoutMs: 20_000 }), node.did),
          25_000,
          'the browser to open the data channel and get a reply',
        ),
      );
      expect(await withTimeout(atWerift, 5_000, 'the browser message at werift')).toBe('hello from the browser');
      expect(report.reply).toBe('hello from werift');
      const detail = JSON.stringify(report, null, 1);
      expect(report.errors, detail).toEqual([]);
      expect(link.errors).toEqual([]);

      // Negotiated through the gateway, verified end to end in the browser.
      expect(report.received.types[0], detail).toBe('ANSWER');
      // werift trickles its candidates, then end-of-candidates. On a slow machine they can arrive
      // after the channel is already up (the browser learns werift's address from its STUN
      // checks), so wait for them on the page's live report rather than expect them in `report`.
      await withPageLog(
        page.waitForFunction(
          () => {
            const ice = (globalThis as unknown as AgentWindow).agent.current?.received.ice ?? [];
            return ice.some((c) => c.startsWith('candidate:')) && ice.includes('');
          },
          null,
          { timeout: 5_000 },
        ),
      );
      const received = await page.evaluate(() => (globalThis as unknown as AgentWindow).agent.current?.received.ice ?? []);
      expect(received.filter((c) => c.startsWith('candidate:')).length, detail).toBeGreaterThan(0);
      expect(report.sent.ice.filter((c) => c.startsWith('candidate:')).length, detail).toBeGreaterThan(0);
      expect(report.sent.ice, detail).toContain('');
      // The channel ran over loopback.
      expect(report.selectedPair?.local, detail).toMatch(/^127\.0\.0\.1:/);
      expect(report.selectedPair?.remote, detail).toMatch(/^127\.0\.0\.1:/);

      // The browser hangs up: BYE reaches werift, which closes its side.
      await withPageLog(page.evaluate(() => (globalThis as unknown as AgentWindow).agent.hangUp()));
      expect(await withTimeout(link.remoteBye, 5_000, 'the BYE at werift')).toBe('done');
    } finally {
      link?.dispose();
      await pc.close().catch(() => {});
      await node.close();
      await page.close().catch(() => {});
    }
  });
});

describe('browser bundle: size budget', () => {
  const SCRIPT = join(ROOT, 'scripts/build-browser-client.mjs');
  /** The budget docs/client.md states; scripts/build-browser-client.mjs (BUDGET) enforces it. */
  const MAX_BYTES = 100 * 1024;
  const MAX_GZIP_BYTES = 30 * 1024;
  const run = promisify(execFile);
  let dir = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'aiconexus-bundle-size-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('builds within 100 KiB minified and 30 KiB gzipped, with zod\'s English messages', { timeout: 60_000 }, async () => {
    const bundle = join(dir, 'ok/aiconexus-client.js');
    const { stdout } = await run(process.execPath, [SCRIPT, '--outfile', bundle], { cwd: ROOT, timeout: 60_000 });
    expect(stdout).toMatch(/KiB gzipped \(within budget 100\.0 KiB \/ 30\.0 KiB gzipped\)/);
    const body = await readFile(bundle);
    expect(body.length).toBeLessThanOrEqual(MAX_BYTES);
    expect(gzipSync(body, { level: 9 }).length).toBeLessThanOrEqual(MAX_GZIP_BYTES);

    // zod/mini has no messages of its own; src/protocol/frames.ts installs zod's English locale, so
    // the bundle (which has no `zod` to install it) words the client's errors as the gateway does.
    const probe = `
      const { GatewayClient, generateKeyPair } = await import(${JSON.stringify(pathToFileURL(bundle).href)});
      try {
        new GatewayClient({ url: 'ws://127.0.0.1:9/ws', key: generateKeyPair(), meta: { name: 5, capabilities: ['Chat'] } });
      } catch (err) {
        console.log(err.message);
      }`;
    const probed = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: dir, timeout: 30_000 });
    expect(probed.stdout.trim()).toBe(
      'bad meta: name: Invalid input: expected string, received number; capabilities.0: capability must be 1-64 of [a-z0-9._:-]',
    );
  });

  it('fails over budget, naming the packages and files that take the room', { timeout: 60_000 }, async () => {
    const bundle = join(dir, 'over/aiconexus-client.js');
    const failed = await run(process.execPath, [SCRIPT, '--outfile', bundle, '--max-kib', '10', '--max-gzip-kib', '5'], { cwd: ROOT, timeout: 60_000 }).then(
      () => null,
      (err: { code?: number; stderr?: string }) => err,
    );
    expect(failed?.code).toBe(1);
    const stderr = failed?.stderr ?? '';
    expect(stderr).toMatch(/browser bundle over its size budget: [\d.]+ KiB minified \(budget 10\.0 KiB\), [\d.]+ KiB gzipped \(budget 5\.0 KiB\)/);
    expect(stderr).toMatch(/Biggest inputs by package[^\n]*\n\s+[\d.]+ KiB {2}(zod|src\/client\/) \(\d+ files\)/);
    expect(stderr).toMatch(/Biggest files:\n\s+[\d.]+ KiB {2}\S+/);
    expect(stderr).toContain('node_modules/zod/v4/core/schemas.js');
    expect(stderr).toContain("instead of 'zod/mini'");
    // The metafile is left for esbuild's analyzer.
    const meta = JSON.parse(await readFile(`${bundle}.meta.json`, 'utf8')) as { inputs: Record<string, unknown> };
    expect(Object.keys(meta.inputs)).toContain('src/client/client.ts');
  });
});
