/**
 * Scenario `ceiling`: raw node:crypto Ed25519 verifies per second (bench/verify-ceiling.ts), on
 * one core and on the threadpool: what a relay verifying with node:crypto cannot outrun; and the
 * gateway's libsodium verifier on one core.
 */
import type { ScenarioContext } from '../lib/harness.js';
import type { Options } from '../lib/options.js';
import { CORES, section } from '../lib/report.js';
import type { CeilingResult } from '../lib/results.js';
import { fmtInt } from '../lib/stats.js';

export async function ceiling(opts: Options, { harness }: ScenarioContext): Promise<CeilingResult> {
  const child = harness.start('verify-ceiling', { label: 'ceiling', env: { UV_THREADPOOL_SIZE: String(CORES) } });
  await child.waitFor('ready', 30_000);
  const reply = await child.request<{ type: string; message?: string } & CeilingResult>(
    { cmd: 'run', durationMs: opts.ceilingMs, kind: opts.frame },
    ['result', 'error'],
    60_000,
  );
  if (reply.type === 'error') throw new Error(reply.message);
  const { messageBytes, cores, uvThreadpoolSize, sync, async, libsodium } = reply;
  section('Raw node:crypto Ed25519 verify ceiling', [
    `message ${messageBytes} B (JCS of a signed ${opts.frame.toUpperCase()} frame), KeyObject cached`,
    `1 core, sync:                 ${fmtInt(sync.perSecond)} verifies/s`,
    `${uvThreadpoolSize} threadpool threads, async: ${fmtInt(async.perSecond)} verifies/s (${cores} cores)`,
    `libsodium (the gateway's default verifier), 1 core, sync: ${libsodium ? `${fmtInt(libsodium.perSecond)} verifies/s` : 'does not load here'}`,
  ]);
  return { messageBytes, cores, uvThreadpoolSize, sync, async, libsodium };
}
