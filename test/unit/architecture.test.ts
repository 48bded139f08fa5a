/**
 * The import graph of src/ (docs/architecture.md): no cycles, and each folder imports only the
 * layers below it, so a concern is found by folder name and no layer reaches across (ws ↔ http,
 * registry → routing, the browser-safe client → node-only modules, …).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** The process entry and the app: they assemble everything, so they may import anything. */
const TOP = new Set(['app.ts', 'server.ts', 'workers.ts']);

/**
 * What each layer may import besides itself. `base` is every other module at the top of src/
 * (errors, constants, config, metrics, …): shared leaves that import only each other.
 */
const ALLOWED: Record<string, { value: string[]; typeOnly?: string[] }> = {
  base: { value: [] },
  protocol: { value: ['base'] },
  identity: { value: ['base', 'protocol'] },
  registry: { value: ['base', 'protocol'] },
  routing: { value: ['base'] },
  cluster: { value: ['base', 'protocol', 'registry', 'routing'] },
  http: { value: ['base', 'protocol', 'registry'] },
  // The Cluster is loaded by app.ts only in cluster mode (ioredis is ~25 MB of code): ws knows its type.
  ws: { value: ['base', 'protocol', 'identity', 'registry', 'routing'], typeOnly: ['cluster'] },
  // Browser-safe: the protocol's schemas and encodings and the error table, nothing node-only.
  client: { value: ['protocol', 'errors.ts'] },
  cli: { value: ['client'] },
  // Named Fastify plugins that build and share the node's services.
  services: { value: ['base', 'identity', 'ws'] },
};

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

function imports(file: string): Edge[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const edges: Edge[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(type\s+)?[^'";]*?from\s+'(\.{1,2}\/[^']+)'/gm)) {
    const to = relative(SRC, resolve(SRC, dirname(file), m[2] as string)).replace(/\.js$/, '.ts');
    edges.push({ from: file, to, typeOnly: m[1] !== undefined });
  }
  // Dynamic imports are value imports too.
  for (const m of text.matchAll(/import\('(\.{1,2}\/[^']+)'\)/g)) {
    edges.push({ from: file, to: relative(SRC, resolve(SRC, dirname(file), m[1] as string)).replace(/\.js$/, '.ts'), typeOnly: false });
  }
  return edges;
}

function layer(file: string): string {
  if (!file.includes('/')) return TOP.has(file) ? 'top' : 'base';
  return file.split('/')[0] as string;
}

const files = sourceFiles(SRC);
const edges = files.flatMap(imports);

describe('src/ import graph', () => {
  it('finds the modules and their imports', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(edges.length).toBeGreaterThan(100);
    for (const e of edges) expect(files, `${e.from} imports a missing ${e.to}`).toContain(e.to);
  });

  it('has no import cycle (type imports included)', () => {
    const next = new Map<string, string[]>(files.map((f) => [f, []]));
    for (const e of edges) next.get(e.from)?.push(e.to);
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const path: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      path.push(f);
      for (const to of next.get(f) ?? []) {
        if (state.get(to) === 'open') cycles.push([...path.slice(path.indexOf(to)), to].join(' → '));
        else if (!state.has(to)) visit(to);
      }
      path.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('each layer imports only the layers below it', () => {
    const crossings: string[] = [];
    for (const e of edges) {
      const from = layer(e.from);
      const to = layer(e.to);
      if (from === to || from === 'top') continue;
      const rule = ALLOWED[from];
      if (!rule) {
        crossings.push(`${e.from}: folder ${from} has no rule in this test`);
        continue;
      }
      const ok = rule.value.includes(to) || rule.value.includes(e.to) || (e.typeOnly && (rule.typeOnly ?? []).includes(to));
      if (!ok) crossings.push(`${e.from} → ${e.to}${e.typeOnly ? ' (type)' : ''}`);
    }
    expect(crossings).toEqual([]);
  });
});
