/**
 * Prometheus metrics (prom-client). Each app owns its own prom-client Registry, so several
 * gateways in one process never share counters.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { busyShareMeter } from './event-loop.js';
import { CountsByLabel, HotHistogram } from './hot-metrics.js';

export interface GatewayMetrics {
  readonly registry: Registry;
  readonly connectedAgents: Gauge;
  readonly connections: Gauge;
  readonly handshakes: Counter<'result'>;
  /** Per frame: counted here, read by aiconexus_frames_routed_total when scraped (hot-metrics.ts). */
  readonly framesRouted: CountsByLabel<'type'>;
  readonly errors: Counter<'code'>;
  readonly closes: Counter<'code'>;
  readonly congestions: Counter;
  readonly socketsRefused: Counter;
  readonly verifySeconds: HotHistogram;
  readonly routeSeconds: HotHistogram;
  readonly verifyPending: Gauge;
  readonly verified: Counter<'where'>;
  readonly eventLoopUtilization: Gauge;
  readonly idleCollections: Counter;
  readonly receivedBytes: Counter;
}

/** Creates the gateway's metrics; `connectedAgents` reads the live count when scraped. */
export function createMetrics(opts: {
  agentCount: () => number;
  connectionCount: () => number;
  /** Signatures submitted to the verification workers and not yet answered. */
  verifyPending?: () => number;
  /** Signatures verified so far, on the event loop and in the workers. */
  verifiedCounts?: () => { inline: number; workers: number };
  /** Bytes of WebSocket messages received so far. */
  receivedBytes?: () => number;
  defaults?: boolean;
}): GatewayMetrics {
  const registry = new Registry();
  if (opts.defaults !== false) collectDefaultMetrics({ register: registry });
  const busyShare = busyShareMeter();
  const framesRouted = new CountsByLabel('type');
  new Counter({
    name: 'aiconexus_frames_routed_total',
    help: 'Signaling frames delivered to their target, by type',
    labelNames: ['type'],
    registers: [registry],
    collect() {
      framesRouted.collect(this);
    },
  });
  return {
    registry,
    connectedAgents: new Gauge({
      name: 'aiconexus_connected_agents',
      help: 'Registered agents connected to this gateway',
      registers: [registry],
      collect() {
        this.set(opts.agentCount());
      },
    }),
    connections: new Gauge({
      name: 'aiconexus_open_connections',
      help: 'Open WebSocket connections (registered or not)',
      registers: [registry],
      collect() {
        this.set(opts.connectionCount());
      },
    }),
    handshakes: new Counter({
      name: 'aiconexus_handshakes_total',
      help: 'Completed REGISTER handshakes by result (ok, failed, timeout)',
      labelNames: ['result'],
      registers: [registry],
    }),
    framesRouted,
    errors: new Counter({
      name: 'aiconexus_errors_total',
      help: 'ERROR frames sent, by protocol error code',
      labelNames: ['code'],
      registers: [registry],
    }),
    closes: new Counter({
      name: 'aiconexus_closes_total',
      help: 'Connections closed by the gateway, by close code',
      labelNames: ['code'],
      registers: [registry],
    }),
    congestions: new Counter({
      name: 'aiconexus_congestions_total',
      help: 'Times a connection held 64 KiB unsent and was not read until the client had read it (slow or non-reading clients)',
      registers: [registry],
    }),
    socketsRefused: new Counter({
      name: 'aiconexus_sockets_refused_total',
      help: 'TCP connections reset at accept because their address already had MAX_SOCKETS_PER_IP open',
      registers: [registry],
    }),
    verifySeconds: new HotHistogram(
      'aiconexus_signature_verify_seconds',
      'Time from submitting one Ed25519 signature to the verification workers to its verdict (queueing included)',
      [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
      registry,
    ),
    routeSeconds: new HotHistogram(
      'aiconexus_frame_route_seconds',
      'Time a signaling frame spends in the gateway after its checks: verification, the wait for the same connection\'s earlier frames, and the write to the target (or the hand-over to Redis)',
      [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064],
      registry,
    ),
    verifyPending: new Gauge({
      name: 'aiconexus_verify_pending',
      help: 'Signatures waiting for a verification worker (a sustained high value means VERIFY_THREADS or the cores are the bottleneck)',
      registers: [registry],
      collect() {
        this.set(opts.verifyPending?.() ?? 0);
      },
    }),
    verified: new Counter({
      name: 'aiconexus_signatures_verified_total',
      help: 'Signatures verified, by where: inline (on the event loop: it had time to spare, or the workers were idle) or workers (in a batch)',
      labelNames: ['where'],
      registers: [registry],
      collect() {
        const counts = opts.verifiedCounts?.() ?? { inline: 0, workers: 0 };
        this.reset();
        this.inc({ where: 'inline' }, counts.inline);
        this.inc({ where: 'workers' }, counts.workers);
      },
    }),
    eventLoopUtilization: new Gauge({
      name: 'aiconexus_event_loop_utilization',
      help: 'Share of time the event loop was busy since the previous scrape, 0-1 (what VERIFY_INLINE_MAX_LOAD is compared with, over 100 ms windows)',
      registers: [registry],
      collect() {
        this.set(busyShare());
      },
    }),
    receivedBytes: new Counter({
      name: 'aiconexus_received_bytes_total',
      help: 'Bytes of WebSocket messages received on /ws (every frame, before any check)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(opts.receivedBytes?.() ?? 0);
      },
    }),
    idleCollections: new Counter({
      name: 'aiconexus_idle_collections_total',
      help: 'Full garbage collections run because the event loop went quiet after a burst (memory grew, or many bytes were received)',
      registers: [registry],
    }),
  };
}
