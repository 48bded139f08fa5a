/**
 * The /ws route: @fastify/websocket on `ws`, one {@link Session} per connection.
 */
import websocket from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import { CloseCode } from '../errors.js';
import type { Hub } from './hub.js';
import { Session } from './session.js';

export const wsRoutes: FastifyPluginAsync<{ hub: Hub }> = async (app, { hub }) => {
  await app.register(websocket, {
    options: {
      // Oversize frames are refused by ws itself with close 1009, before they are buffered whole.
      maxPayload: hub.config.maxFrameBytes,
      // Compression stays off: it costs CPU per frame and opens the door to zip bombs.
      perMessageDeflate: false,
    },
    // On app.close(): every agent gets 1001 (PROTOCOL.md §6) before the server stops.
    preClose: function (done) {
      hub.draining = true;
      hub.closeAll(CloseCode.GOING_AWAY);
      this.websocketServer.close(() => done());
    },
  });

  app.get('/ws', { websocket: true }, (socket, req) => {
    // Listeners are attached synchronously inside the Session constructor.
    new Session(hub, socket, req.ip);
  });
};
