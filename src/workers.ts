/**
 * GATEWAY_WORKERS > 1: a supervisor process forks that many workers with node:cluster. They share
 * the listening port (the primary hands out connections round-robin), so one machine's cores all
 * serve agents; each worker is a cluster node of its own and reaches the others through Redis.
 *
 * The supervisor restarts a worker that dies (at most once per second per slot) and, on
 * SIGTERM/SIGINT, forwards the signal, waits for every worker to drain, and exits 0.
 */
import cluster, { type Worker } from 'node:cluster';
import pino from 'pino';
import type { Config } from './config.js';
import {
  WORKER_GIVE_UP_EXIT_MS,
  WORKER_MAX_QUICK_DEATHS,
  WORKER_QUICK_DEATH_MS,
  WORKER_RESTART_INTERVAL_MS,
  WORKER_SHUTDOWN_SLACK_MS,
} from './constants.js';

export function superviseWorkers(config: Config, graceMs: number): void {
  const log = pino({ level: config.logLevel, base: { gateway: config.gatewayId, role: 'supervisor' } });
  let stopping = false;
  const lastStart = new Map<number, number>();
  /** Deaths within 5 s of starting, in a row, per slot: a worker that cannot start stops the supervisor. */
  const quickDeaths = new Map<number, number>();

  const fork = (slot: number) => {
    lastStart.set(slot, Date.now());
    const worker = cluster.fork({ AICONEXUS_WORKER_SLOT: String(slot) });
    worker.on('exit', (code, signal) => onExit(slot, worker, code, signal));
  };

  const onExit = (slot: number, worker: Worker, code: number | null, signal: string | null) => {
    if (stopping) return;
    const started = lastStart.get(slot) ?? 0;
    const quick = Date.now() - started < WORKER_QUICK_DEATH_MS ? (quickDeaths.get(slot) ?? 0) + 1 : 0;
    quickDeaths.set(slot, quick);
    if (quick >= WORKER_MAX_QUICK_DEATHS) {
      log.fatal({ slot, code }, 'worker keeps failing at start-up (see its log); giving up');
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      process.exitCode = 1;
      setTimeout(() => process.exit(1), WORKER_GIVE_UP_EXIT_MS).unref();
      return;
    }
    log.error({ slot, pid: worker.process.pid, code, signal }, 'worker died; restarting');
    const wait = Math.max(0, WORKER_RESTART_INTERVAL_MS - (Date.now() - started));
    setTimeout(() => !stopping && fork(slot), wait).unref();
  };

  for (let slot = 0; slot < config.workers; slot++) fork(slot);
  log.info({ workers: config.workers, url: `ws://${config.host}:${config.port}/ws` }, 'supervising gateway workers');

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down workers');
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    // Ctrl-C in a terminal already reached every worker (same process group): forwarding it again
    // would count as a second signal and cut their drain short. SIGTERM (containers) is forwarded.
    if (signal === 'SIGTERM') for (const w of workers) w.process.kill('SIGTERM');
    const force = setTimeout(() => {
      log.error('workers did not stop in time; exiting');
      process.exit(1);
    }, graceMs + WORKER_SHUTDOWN_SLACK_MS);
    force.unref();
    let alive = workers.filter((w) => !w.isDead()).length;
    if (alive === 0) process.exit(0);
    for (const w of workers) {
      w.once('exit', () => {
        alive -= 1;
        if (alive === 0) {
          log.info('shutdown complete');
          process.exit(0);
        }
      });
    }
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
