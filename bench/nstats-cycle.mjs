// One nstats cycle after the capture, as src/pipeline/daemon.ts runs it in sampled mode with DNS
// off: read the window's iftop text into an observation (parse, last table, `(other flows)` when
// iftop listed as many flows as -L allowed), build its records with the peers named by their
// IPs, and serialize them to line protocol: the text the sink would send.
import { buildRecords } from '../dist/record/points.js';
import { encodeLines } from '../dist/sink/line-protocol.js';
import { sampledObservation } from '../dist/source/iftop-sampled.js';

/** Identity tags as a pod gets them from the downward API (more tags than the seed's `hosts`). */
export const IDENTITY = { host: 'web-0', pod: 'web-0', namespace: 'shop', node: 'node-1' };
const START = new Date('2026-11-22T06:29:48Z');
const TIME = new Date('2026-11-22T06:30:00Z');
const NO_NAMES = new Map();

/** Text -> observation -> records -> line protocol. Returns the text and the counts, for the checks. */
export function nstatsCycle(text, flowLimit) {
  const observation = sampledObservation(text, {
    interface: /^Listening on (\S+)/m.exec(text)?.[1] ?? 'eth0',
    flowLimit,
    ports: false,
    foldPorts: true,
    command: 'iftop',
    start: START,
    end: TIME,
    ending: 'printed',
    tables: 1,
  });
  const records = buildRecords(observation, NO_NAMES, IDENTITY);
  const lines = encodeLines(records, 'ms');
  return {
    body: lines.length > 0 ? `${lines.join('\n')}\n` : '',
    flows: observation.flows.length,
    points: records.length,
    issues: observation.issues.length,
  };
}
