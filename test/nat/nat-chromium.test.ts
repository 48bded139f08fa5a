/**
 * A browser behind a NAT and a werift agent behind another connect through TURN with the
 * gateway's credentials: headless Chromium (driven by playwright-core) runs inside agent1's
 * namespace, started through a wrapper that execs it under `ip netns exec`, and runs
 * test/nat/browser-agent.html (the client's browser bundle, its own WebSocket and
 * RTCPeerConnection given client.iceServers unchanged); test/nat/agent.ts answers in agent2.
 *
 * The page and the bundle are served by playwright's request interception (page.route) under
 * http://nat-lab.test: Chromium's own network is the namespace's, which has no route to this
 * process. Same lab as nat-turn.test.ts (test/nat/lab.ts); needs root, iproute2, nftables, coturn
 * and Chromium (CHROMIUM_PATH overrides /usr/bin/chromium), and fails with the reason without
 * them.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { didFromKey, exportJwk, generateKeyPair } from '../../src/client/index.js';
import type { PairEnd } from './agent.js';
import { startAgent, startNatLab, STUN_URL, TURN_URL, type NatLab } from './lab.js';
import { ADDR } from './topology.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ORIGIN = 'http://nat-lab.test';

/** What offerOverNat() in browser-agent.html returns. */
interface BrowserReport {
  iceUrls: string[];
  candidates: string[];
  errors: string[];
  sent?: string;
  received?: string;
  local?: PairEnd;
  remote?: PairEnd;
}
/** window of browser-agent.html (the test's tsconfig has no DOM lib). */
interface AgentWindow {
  agentReady?: boolean;
  offerOverNat(args: { url: string; jwk: unknown; peer: string; timeoutMs: number }): Promise<BrowserReport>;
}

let lab: NatLab | undefined;
let browser: Browser | undefined;
let workDir: string | undefined;
let bundle = '';
// A set-up failure (no Chromium, no root…) is rethrown by the test: a failure, not a skip.
let setupError: unknown;

beforeAll(async () => {
  try {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
    workDir = await mkdtemp(join(tmpdir(), 'aicx-nat-chromium-'));
    bundle = join(workDir, 'aiconexus-client.js');
    const building = promisify(execFile)(process.execPath, [join(ROOT, 'scripts/build-browser-client.mjs'), '--outfile', bundle], { cwd: ROOT, timeout: 60_000 });
    lab = await startNatLab();
    await building;
    // playwright starts "the browser" with its own arguments: the wrapper puts it in agent1.
    // Chromium keeps its default mDNS host candidate (`<uuid>.local`), as a real page does:
    // werift (0.24) tries to resolve it for ~10 s, and PeerLink adds it on the side so the
    // relay candidates behind it are not held up (examples/webrtc-signaling.ts).
    const wrapper = join(workDir, 'chromium-in-agent1.sh');
    await writeFile(wrapper, `#!/bin/sh\nexec ip netns exec '${lab.topology.ns.agent1}' '${CHROMIUM}' "$@"\n`);
    await chmod(wrapper, 0o755);
    browser = await chromium.launch({
      executablePath: wrapper,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 30_000,
    });
  } catch (err) {
    setupError = err;
  }
}, 90_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await lab?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 30_000);

describe('Chromium behind a symmetric NAT ↔ werift behind another', () => {
  it('opens a data channel over the TURN relay with the gateway’s ice_servers', { timeout: 45_000 }, async () => {
    if (setupError !== undefined) throw setupError;
    if (!lab || !browser) throw new Error('set-up did not finish');
    const page = await browser.newPage();
    const pageLog: string[] = [];
    page.on('console', (msg) => pageLog.push(`${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => pageLog.push(`pageerror: ${err.message}`));
    const files: Record<string, { path: string; type: string }> = {
      '/': { path: join(ROOT, 'test/nat/browser-agent.html'), type: 'text/html; charset=utf-8' },
      '/aiconexus-client.js': { path: bundle, type: 'text/javascript; charset=utf-8' },
    };
    await page.route(`${ORIGIN}/**`, async (route) => {
      const file = files[new URL(route.request().url()).pathname];
      if (file === undefined) await route.fulfill({ status: 404 });
      else await route.fulfill({ status: 200, contentType: file.type, body: await readFile(file.path) });
    });
    await page.goto(`${ORIGIN}/`, { timeout: 10_000 });
    await page.waitForFunction(() => (globalThis as unknown as AgentWindow).agentReady === true, null, { timeout: 10_000 });

    const browserKey = generateKeyPair();
    const agentKey = generateKeyPair();
    const agent = startAgent(lab, { ns: lab.topology.ns.agent2, role: 'answer', key: agentKey, peerDid: didFromKey(browserKey), mode: 'gateway', timeoutMs: 25_000 });
    await agent.waitFor('registered');
    const report = await page.evaluate(
      (args) => (globalThis as unknown as AgentWindow).offerOverNat(args),
      { url: lab.wsUrl, jwk: exportJwk(browserKey), peer: didFromKey(agentKey), timeoutMs: 20_000 },
    );
    const werift = await agent.done;
    const why = `browser: ${JSON.stringify(report)}\n${pageLog.join('\n')}\nwerift: ${JSON.stringify(werift.events)}\n${werift.stderr}`;

    expect(report.errors, why).toEqual([]);
    expect(report.iceUrls, why).toEqual([STUN_URL, TURN_URL]);
    // Chromium gathered a relay candidate on coturn with the credential from REGISTERED.
    expect(report.candidates.some((c) => c.includes(` ${ADDR.public} `) && c.includes(' typ relay ')), why).toBe(true);
    expect(report.received, why).toBe(report.sent);
    // Both ends' selected pair runs through the relay on one side at least.
    expect([report.local?.type, report.remote?.type], why).toContain('relay');
    const c = werift.find('connected');
    expect([c?.local.type, c?.remote.type], why).toContain('relay');
    expect(werift.code, why).toBe(0);
    await page.close();
  });
});
