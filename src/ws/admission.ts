/**
 * Who may open a WebSocket: the Origin allow-list (ALLOWED_ORIGINS) and the per-IP connection cap
 * (MAX_CONNECTIONS_PER_IP). Checked before the upgrade, so a refused client costs one HTTP reply.
 * The upgrade rate per IP (CONNECT_RATE_LIMIT) is @fastify/rate-limit's, on the /ws route.
 */
import { httpError, type HttpError } from '../errors.js';

/** The HTTP error a refused upgrade gets (src/errors.ts httpErrorTable). */
export type Refusal = HttpError<'forbidden_origin' | 'too_many_connections'>;

export class Admission {
  private readonly perIp = new Map<string, number>();
  private readonly anyOrigin: boolean;
  private readonly origins: ReadonlySet<string>;

  constructor(
    private readonly maxPerIp: number,
    allowedOrigins: readonly string[] | undefined,
  ) {
    this.anyOrigin = allowedOrigins === undefined || allowedOrigins.includes('*');
    this.origins = new Set(allowedOrigins ?? []);
  }

  /**
   * Refusal for an upgrade from `ip` with `origin` (the Origin header; absent for non-browser
   * clients, which the allow-list does not restrict), or null to admit it.
   */
  check(ip: string, origin: string | undefined): Refusal | null {
    if (!this.anyOrigin && origin !== undefined && !this.origins.has(origin)) {
      return httpError('forbidden_origin', `origin ${origin.slice(0, 100)} is not in ALLOWED_ORIGINS`);
    }
    if ((this.perIp.get(ip) ?? 0) >= this.maxPerIp) {
      return httpError('too_many_connections', `at most ${this.maxPerIp} connections per IP address`);
    }
    return null;
  }

  /** Counts an open connection from `ip`; returns the function that releases it (idempotent). */
  acquire(ip: string): () => void {
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.perIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, n);
    };
  }

  /** Open connections from `ip`. */
  count(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }
}
