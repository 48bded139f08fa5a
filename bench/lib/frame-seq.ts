/**
 * The load generator's frame numbers. Every signaling frame it sends carries `"id":"L<n>"`, `n`
 * counting up over the whole run, so a frame can be recognised wherever it is seen: by the load
 * generator when it comes back, and by a server that logs when it read it (bench/lib/read-log.ts).
 */

const ID_MARK = Buffer.from('"id":"L');

/** The number after `"id":"L` in a load-generator frame, or -1. */
export function frameSeq(data: Buffer): number {
  const at = data.indexOf(ID_MARK);
  if (at < 0) return -1;
  let v = 0;
  for (let k = at + ID_MARK.length; k < data.length; k++) {
    const c = data[k] as number;
    if (c < 48 || c > 57) return v;
    v = v * 10 + (c - 48);
  }
  return -1;
}
