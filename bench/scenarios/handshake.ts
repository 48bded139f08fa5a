/**
 * Scenario `handshake`: registrations per second (CHALLENGE → signed REGISTER → REGISTERED, the
 * connections kept open) against the gateway and the bare `ws` relay in the same run.
 */
import { runTask, serverUse, trackMarks, type ScenarioContext } from '../lib/harness.js';
import type { Options } from '../lib/options.js';
import { section } from '../lib/report.js';
import type { HandshakeResult, HandshakeRun } from '../lib/results.js';
import { fmtInt, fmtMs, fmtRatio } from '../lib/stats.js';

/** One handshake run of the load generator against `kind`: registrations/s and the CPU of both sides. */
async function handshakesAgainst(kind: 'server' | 'baseline-relay', opts: Options, { harness, report }: ScenarioContext): Promise<HandshakeRun> {
  const [server, loadgen] = await Promise.all([harness.startServer(kind, kind === 'server' ? 'handshake' : undefined), harness.startLoadgen()]);
  const marks = trackMarks(loadgen, server.child);
  const p = opts.handshake;
  const r = await runTask<HandshakeRun>(loadgen, 'handshake', { url: server.url, count: p.count, concurrency: p.concurrency }, 180_000);
  r.server = await serverUse(marks, 'main-start', 'main-end');
  await loadgen.stop();
  await server.child.stop();
  if (server.profile) report.profiles.push(server.profile);
  if (r.failed > 0) report.invalid.push(`handshake (${kind}): ${r.failed} registrations failed (${r.firstFailure})`);
  return r;
}

/**
 * Registrations/s of the gateway, and of the bare `ws` relay (bench/baseline-relay.ts: the same
 * handshake with no Fastify, no schema, no limits) in the same run: the ratio says what the
 * gateway's own work costs per handshake on this machine, whatever its speed.
 */
export async function handshake(opts: Options, ctx: ScenarioContext): Promise<HandshakeResult> {
  const baseline = await handshakesAgainst('baseline-relay', opts, ctx);
  const r: HandshakeResult = { ...(await handshakesAgainst('server', opts, ctx)), baseline };
  const line = (x: HandshakeRun) =>
    `${fmtInt(x.perSecond)}/s (${x.registered} ok, ${x.failed} failed); handshake p50 ${fmtMs(x.handshakeMs.p50)} ms, p99 ${fmtMs(x.handshakeMs.p99)} ms; ` +
    `server CPU ${fmtInt(x.server?.cpuPercent ?? NaN)}%, event loop ${((x.server?.eventLoopUtilization ?? NaN) * 100).toFixed(0)}%; load generator CPU ${fmtInt(x.loadgenCpuPercent)}%`;
  section(`Handshakes: ${fmtInt(r.count)} registrations, ${r.concurrency} in flight, connections kept open`, [
    `gateway:        ${line(r)}`,
    `bare ws relay:  ${line(baseline)}`,
    `gateway ÷ relay: ${fmtRatio(r.perSecond / baseline.perSecond)} (the load generator's connect + sign REGISTER runs on the same 2 cores)`,
  ]);
  return r;
}
