/**
 * The gateway's allocator for the harnesses that start it (`npm run attack`, `npm run bench`):
 * glibc's malloc, as `npm start` runs it, or jemalloc, as the Docker image does
 * (docker/Dockerfile: LD_PRELOAD=libjemalloc.so.2 with its background thread; needs the
 * libjemalloc2 package).
 */
import { UsageError } from './args.js';

/** The environment that makes a child node process use the allocator named `raw` (`glibc` or `jemalloc`). */
export function mallocEnvOf(raw: string): Record<string, string> {
  if (raw === 'glibc') return {};
  if (raw === 'jemalloc') return { LD_PRELOAD: 'libjemalloc.so.2', MALLOC_CONF: 'background_thread:true' };
  throw new UsageError(`--malloc must be glibc or jemalloc (got '${raw}')`);
}
