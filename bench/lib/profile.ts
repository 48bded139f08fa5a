/**
 * Reads a V8 .cpuprofile (written by `node --cpu-prof`) and ranks functions by self time.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './compile.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  /** Function name (or a V8 pseudo-frame such as (garbage collector)). */
  name: string;
  /** file:line, relative to the repository, or node:… for built-ins. */
  where: string;
  selfMs: number;
  percent: number;
}

function shortUrl(url: string): string {
  if (url === '') return '';
  try {
    const path = url.startsWith('file:') ? fileURLToPath(url) : url;
    return path.startsWith('/') ? relative(ROOT, path).replace(/^node_modules\/\.cache\/aiconexus-bench\//, '') : path;
  } catch {
    return url;
  }
}

/** The `top` functions by self time; `(idle)` is excluded from the percentages (they are of busy time). */
export function topSelfTime(file: string, top = 20): { busyMs: number; totalMs: number; rows: SelfTime[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { name: string; where: string; us: number }>();
  let busyUs = 0;
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    totalUs += dt;
    const node = byId.get(id);
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') return;
    busyUs += dt;
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${functionName}\n${where}`;
    const entry = self.get(key) ?? { name: functionName || '(anonymous)', where, us: 0 };
    entry.us += dt;
    self.set(key, entry);
  });
  const rows = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, percent: busyUs > 0 ? (e.us / busyUs) * 100 : 0 }));
  return { busyMs: busyUs / 1000, totalMs: totalUs / 1000, rows };
}
