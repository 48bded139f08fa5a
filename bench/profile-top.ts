/**
 * Prints the top self-time functions of a CPU profile.
 *
 *   tsx bench/profile-top.ts bench/results/gateway-throughput-<stamp>.cpuprofile.json [top=25]
 */
import { topSelfTime } from './lib/profile.js';
import { table } from './lib/stats.js';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: tsx bench/profile-top.ts <file.cpuprofile[.json]> [top]\n');
  process.exit(2);
}
const { busyMs, totalMs, rows } = topSelfTime(file, Number(topArg ?? 25));
process.stdout.write(`${file}: ${(busyMs / 1000).toFixed(1)} s busy of ${(totalMs / 1000).toFixed(1)} s profiled\n\n`);
process.stdout.write(
  table(
    ['self ms', '% busy', 'function', 'where'],
    rows.map((r) => [r.selfMs.toFixed(0), r.percent.toFixed(1), r.name, r.where]),
  ) + '\n',
);
