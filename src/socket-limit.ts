/**
 * Open TCP connections per peer address, counted at accept (MAX_SOCKETS_PER_IP): idle sockets,
 * slow requests, upgrades in progress and WebSockets alike. A connection past the cap is reset at
 * once, before any HTTP parsing, so one address cannot take the process's descriptors (which
 * /health, new agents and Redis need too). The WebSocket cap per client address
 * (MAX_CONNECTIONS_PER_IP, src/ws/admission.ts) still applies to upgrades.
 */
import type { Server, Socket } from 'node:net';

export class SocketLimit {
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly max: number,
    private readonly onRefused: (address: string) => void = () => {},
  ) {}

  /** Counts every connection `server` accepts from now on. */
  attach(server: Pick<Server, 'on'>): void {
    if (this.max === Number.POSITIVE_INFINITY) return;
    server.on('connection', (socket: Socket) => this.admit(socket));
  }

  /** Open connections from `address`. */
  count(address: string): number {
    return this.perAddress.get(address) ?? 0;
  }

  private admit(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const n = this.perAddress.get(address) ?? 0;
    if (n >= this.max) {
      this.onRefused(address);
      // resetAndDestroy: an RST frees both ends at once (no TIME_WAIT, no FIN handshake to wait for).
      socket.resetAndDestroy();
      return;
    }
    this.perAddress.set(address, n + 1);
    socket.once('close', () => {
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
  }
}
