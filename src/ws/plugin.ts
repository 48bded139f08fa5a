/**
 * The /ws route: @fastify/websocket on `ws`, one {@link Session} per connection.
 */
import websocket from '@fastify/websocket';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyPluginAsync } from 'fastify';
import type { WebSocket } from 'ws';
import { CLOSE_GRACE_MS, RATE_LIMIT_WINDOW_MS, TERMINATE_AFTER_CLOSE_MS } from '../constants.js';
import { CloseCode } from '../errors.js';
import { Admission } from './admission.js';
import type { Hub } from './hub.js';
import { Session } from './session.js';

/** Close codes `ws` sends for receiver errors (RFC 6455 §7.4.1); 1009 is in the gateway's table. */
const INVALID_PAYLOAD = 1007;
const PROTOCOL_ERROR = 1002;

/** The close code ws sent for a receiver error (its error codes are documented in ws/lib/errors). */
function wsCloseCode(error: Error): number {
  switch ((error as { code?: string }).code) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
      return CloseCode.TOO_LARGE;
    case 'WS_ERR_INVALID_UTF8':
      return INVALID_PAYLOAD;
    default:
      return PROTOCOL_ERROR;
  }
}

export const wsRoutes: FastifyPluginAsync<{ hub: Hub }> = async (app, { hub }) => {
  await app.register(websocket, {
    options: {
      // Oversize frames are refused by ws itself with close 1009, before they are buffered whole.
      maxPayload: hub.config.maxFrameBytes,
      // Compression stays off: it costs CPU per frame and opens the door to zip bombs.
      perMessageDeflate: false,
    },
    // On app.close(): every agent gets 1001 (docs/protocol.md §8) before the server stops; peers that
    // do not answer the closing handshake within CLOSE_GRACE_MS are cut off.
    // hub.drain marks the hub as draining first (already done on SIGTERM/SIGINT by server.ts).
    preClose: function (done) {
      void hub.drain(CLOSE_GRACE_MS).then(() => this.websocketServer.close(() => done()));
    },
    // Socket-level faults (onSocketError); the route's handler replaces the per-socket listener
    // that calls this, and it is still called for a handler that throws.
    errorHandler: (error, socket, request) => onSocketError(error, socket, request.ip, request.log),
  });

  /**
   * Socket-level faults: ws has already closed the connection (1009 too large, 1007 invalid
   * UTF-8, 1002 protocol error). These are the client's doing, so they are not error-level lines.
   */
  function onSocketError(error: Error, socket: WebSocket, ip: string, log: FastifyBaseLogger): void {
    const code = wsCloseCode(error);
    hub.metrics.closes.inc({ code: String(code) });
    log.info({ remote: ip, code, reason: error.message }, 'websocket closed on protocol error');
    // Not at once: a client still sending (a large oversize frame) would get a TCP reset and
    // lose the 1009 close frame. ws has stopped reading; the socket goes within a second.
    setTimeout(() => socket.terminate(), TERMINATE_AFTER_CLOSE_MS).unref();
  }

  // Upgrades per IP per minute (CONNECT_RATE_LIMIT, route config below): a refused upgrade gets
  // HTTP 429 (@fastify/rate-limit, registered by buildApp).
  const admission = new Admission(hub.config.maxConnectionsPerIp, hub.config.allowedOrigins);
  /** Each upgrade's ServerResponse, from preValidation to the handler (WeakMap: a refused or failed upgrade leaves nothing behind). */
  const upgrades = new WeakMap<IncomingMessage, ServerResponse>();

  app.get(
    '/ws',
    {
      websocket: true,
      config: { rateLimit: { max: hub.config.connectRateLimit, timeWindow: RATE_LIMIT_WINDOW_MS } },
      // Runs before the upgrade: a refused client gets an HTTP error, not a WebSocket.
      preValidation: async (req, reply) => {
        const refusal = admission.check(req.ip, req.headers.origin);
        if (refusal) {
          req.log.info({ remote: req.ip, reason: refusal.body.error }, 'websocket upgrade refused');
          return reply.code(refusal.status).send(refusal.body);
        }
        // Hold the 101 response (ws writes it just before the handler runs) so that it leaves with
        // the CHALLENGE in one write: one syscall and one TCP segment instead of two, and one
        // read for the client. Uncorked by the handler; ws's own error paths end the socket,
        // which flushes it too.
        if (req.ws) {
          req.raw.socket.cork();
          upgrades.set(req.raw, reply.raw);
        }
      },
    },
    (socket, req) => {
      try {
        // Nothing may hold the upgrade's request and reply (IncomingMessage, ServerResponse,
        // Fastify's Request and Reply, their headers: ~2.4 KB of heap per connection) for as long
        // as the connection lives. @fastify/websocket's per-socket error listener holds both: it is
        // replaced by one holding only what onSocketError uses. And the ServerResponse stays
        // attached to the TCP socket (assignSocket) until it is detached here.
        const ip = req.ip;
        const log = req.log;
        for (const listener of socket.listeners('error')) socket.removeListener('error', listener as (err: Error) => void);
        socket.on('error', (error) => onSocketError(error, socket, ip, log));
        upgrades.get(req.raw)?.detachSocket(req.raw.socket);
        upgrades.delete(req.raw);
        const release = admission.acquire(ip);
        socket.once('close', release);
        // Listeners are attached synchronously inside the Session constructor.
        new Session(hub, socket, ip, req.raw.socket);
      } finally {
        req.raw.socket.uncork();
      }
    },
  );
};
