/**
 * Reads a V8 .cpuprofile (written by `node --cpu-prof`) and ranks functions by self time, and a
 * sampling heap profile (`--heap-sample`) and ranks allocation sites by bytes.
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

/**
 * Walks a CPU profile's samples: calls `visit` with each busy sample's function, its file:line and
 * its time (µs); `(idle)` samples count only in the total. Returns the busy and total time, µs.
 */
function walkSelfTime(file: string, visit: (functionName: string, where: string, us: number) => void): { busyUs: number; totalUs: number } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
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
    visit(functionName, url ? `${shortUrl(url)}:${lineNumber + 1}` : '', dt);
  });
  return { busyUs, totalUs };
}

/** The `top` functions by self time; `(idle)` is excluded from the percentages (they are of busy time). */
export function topSelfTime(file: string, top = 20): { busyMs: number; totalMs: number; rows: SelfTime[] } {
  const self = new Map<string, { name: string; where: string; us: number }>();
  const { busyUs, totalUs } = walkSelfTime(file, (functionName, where, dt) => {
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

interface HeapProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapProfileNode[];
}

export interface AllocationSite {
  /** Function that allocated, file:line. */
  name: string;
  where: string;
  /** The function that called it (allocation sites are often inlined helpers). */
  caller: string;
  bytes: number;
  percent: number;
}

/** The `top` allocation sites (function and caller) of a sampling heap profile, by sampled bytes. */
export function topAllocations(file: string, top = 10): { totalBytes: number; rows: AllocationSite[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: HeapProfileNode };
  const sites = new Map<string, AllocationSite>();
  let total = 0;
  const label = (n: HeapProfileNode) => n.callFrame.functionName || '(anonymous)';
  const visit = (node: HeapProfileNode, parent: HeapProfileNode | undefined) => {
    total += node.selfSize;
    if (node.selfSize > 0) {
      const where = node.callFrame.url ? `${shortUrl(node.callFrame.url)}:${node.callFrame.lineNumber + 1}` : '';
      const caller = parent ? label(parent) : '';
      const key = `${label(node)}\n${where}\n${caller}`;
      const site = sites.get(key) ?? { name: label(node), where, caller, bytes: 0, percent: 0 };
      site.bytes += node.selfSize;
      sites.set(key, site);
    }
    for (const child of node.children) visit(child, node);
  };
  visit(profile.head, undefined);
  const rows = [...sites.values()]
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, top)
    .map((site) => ({ ...site, percent: total > 0 ? (site.bytes / total) * 100 : 0 }));
  return { totalBytes: total, rows };
}

/** What a CPU profile's self time is grouped by in {@link selfTimeByGroup}. */
export const PROFILE_GROUPS = ['verify', 'gateway src/', 'zod', 'ws', 'fastify & co', 'metrics', 'node core', 'GC', '(program)', 'bench', 'other'] as const;
export type ProfileGroup = (typeof PROFILE_GROUPS)[number];

/** The group of one profile node: what owns the code it ran. */
function groupOf(functionName: string, where: string): ProfileGroup {
  if (/verify|crypto_sign/i.test(functionName) && (where === '' || where.startsWith('node:') || where.includes('ed25519'))) return 'verify';
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return '(program)';
  if (where.startsWith('src/') || where.startsWith('dist/')) return 'gateway src/';
  if (where.includes('node_modules/zod/')) return 'zod';
  if (where.includes('node_modules/ws/')) return 'ws';
  if (where.includes('node_modules/prom-client/')) return 'metrics';
  if (/node_modules\/(fastify|@fastify|avvio|pino|find-my-way|light-my-request)/.test(where)) return 'fastify & co';
  if (where.startsWith('node:') || where === '') return 'node core';
  if (where.startsWith('bench/')) return 'bench';
  return 'other';
}

/**
 * A CPU profile's busy time (idle excluded), its self time by {@link ProfileGroup}, and by
 * function (`name where` → µs), for adding up several profiles.
 */
export function selfTimeByGroup(file: string): { busyUs: number; groups: Record<ProfileGroup, number>; functions: Map<string, number> } {
  const groups = Object.fromEntries(PROFILE_GROUPS.map((g) => [g, 0])) as Record<ProfileGroup, number>;
  const functions = new Map<string, number>();
  const { busyUs } = walkSelfTime(file, (functionName, where, dt) => {
    groups[groupOf(functionName, where)] += dt;
    const key = `${functionName || '(anonymous)'} ${where}`.trim();
    functions.set(key, (functions.get(key) ?? 0) + dt);
  });
  return { busyUs, groups, functions };
}
