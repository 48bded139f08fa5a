/**
 * A port that was free a moment ago. Racy (another process may take it before it is used): only
 * for servers that cannot listen on port 0 and report back (redis-server, whose port 0 means "no
 * TCP"; turnserver; gateways restarted on the same port) and for "nothing listens here" checks.
 * Spawned gateways use port 0.
 */
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}
