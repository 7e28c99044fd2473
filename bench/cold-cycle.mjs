// The first cycle in a fresh process: the modules are loaded, then ONE cycle is timed with
// process.cpuUsage() (V8 still has to compile the parser, the regexes and the point code).
// Usage: node bench/cold-cycle.mjs CAPTURE FLOW_LIMIT -> prints the CPU microseconds.
import { readFileSync } from 'node:fs';
import { nstatsCycle } from './nstats-cycle.mjs';

const [file = '', limit = '100'] = process.argv.slice(2);
const text = readFileSync(file, 'utf8');
const before = process.cpuUsage();
const out = nstatsCycle(text, Number(limit));
const cpu = process.cpuUsage(before);
if (out.issues !== 0) throw new Error(`${file}: ${out.issues} parse issues`);
process.stdout.write(`${cpu.user + cpu.system}\n`);
