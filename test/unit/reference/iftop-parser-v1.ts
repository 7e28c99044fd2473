/**
 * The parser as it was before it was made faster (commit 6475cf6), kept verbatim, with the
 * quantity parsing it used, as the reference that parser-equivalence.test.ts compares the fast
 * one to. Not used by nstats.
 */
import { isIP } from 'node:net';
import type {
  DirectionStats,
  Endpoint,
  Flow,
  ParseIssue,
  ParseResult,
  Rates,
  Snapshot,
  Totals,
} from '../../../src/parse/types.js';

const POWERS: Readonly<Record<string, number>> = { '': 0, K: 1, M: 2, G: 3, T: 4 };

interface Quantity {
  readonly value: number;
  readonly unit: 'bits' | 'bytes';
}

const QUANTITY = /^(\d+(?:\.\d+)?)([KMGT]?)([bB])$/;

/** Reads `799Kb`, `1.08MB`, `0b`. Returns undefined for anything else (never throws). */
export function parseQuantity(raw: string): Quantity | undefined {
  const match = QUANTITY.exec(raw);
  if (!match) return undefined;
  const [, digits = '', prefix = '', base = ''] = match;
  const value = Number(digits) * 1024 ** (POWERS[prefix] ?? 0);
  if (!Number.isFinite(value)) return undefined;
  return { value, unit: base === 'b' ? 'bits' : 'bytes' };
}

function rateToBitsPerSecond(q: Quantity): number {
  return q.unit === 'bits' ? q.value : q.value * 8;
}

/** Parser limits. */
interface ParseOptions {
  /** Stop recording issues after this many (the count of skipped lines still grows). Default 1000. */
  readonly maxIssues?: number;
}

const RAW_LIMIT = 200;
const HEADING = /^\s*#\s+Host name/;
const DIVIDER = /^-{10,}\s*$/;
const END = /^={10,}\s*$/;
const LISTENING = /^Listening on (\S+)\s*$/;
const SENT_LINE = /^\s*(\d+)\s+(\S+)\s+=>\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$/;
const RECEIVED_LINE = /^\s+(\S+)\s+<=\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$/;
const TOTAL_LINES: ReadonlyArray<[RegExp, keyof TotalsDraft]> = [
  [/^Total send rate:\s+(\S+)\s+(\S+)\s+(\S+)\s*$/, 'sendRate'],
  [/^Total receive rate:\s+(\S+)\s+(\S+)\s+(\S+)\s*$/, 'receiveRate'],
  [/^Total send and receive rate:\s+(\S+)\s+(\S+)\s+(\S+)\s*$/, 'totalRate'],
  [/^Peak rate \(sent\/received\/total\):\s+(\S+)\s+(\S+)\s+(\S+)\s*$/, 'peak'],
  [/^Cumulative \(sent\/received\/total\):\s+(\S+)\s+(\S+)\s+(\S+)\s*$/, 'cumulative'],
];

type TotalsDraft = { -readonly [K in keyof Totals]?: Totals[K] };

class FieldError extends Error {}

function rate(field: string, raw: string): number {
  const q = parseQuantity(raw);
  if (!q) throw new FieldError(`parsing "${field}" (${raw}) as a rate failed`);
  return rateToBitsPerSecond(q);
}

function bytes(field: string, raw: string): number {
  const q = parseQuantity(raw);
  if (!q || q.unit !== 'bytes') throw new FieldError(`parsing "${field}" (${raw}) as bytes failed`);
  return q.value;
}

function rates(prefix: string, a: string, b: string, c: string): Rates {
  return {
    last2s: rate(`${prefix} last 2s`, a),
    last10s: rate(`${prefix} last 10s`, b),
    last40s: rate(`${prefix} last 40s`, c),
  };
}

/**
 * A host as iftop prints it with `-n`: `1.2.3.4`, `1.2.3.4:80` (with `-P`), `fd00::1`, or
 * `[fd00::1]:80` (IPv6 with `-P`; ICMP flows have no port even then). The host column is 40
 * characters: a long `[IPv6]:port` loses its end, leaving `[fd00:...:e:40001` with no `]`. Such a
 * host cannot be known, so it is reported rather than guessed (the guess can be a valid address).
 */
function endpoint(field: string, raw: string): Endpoint {
  const fail = (why: string): never => {
    throw new FieldError(`parsing "${field}" (${raw}) ${why}`);
  };
  let address = raw;
  let portText: string | undefined;
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']:');
    if (close < 0) fail('failed: iftop cut the host to its 40-character column');
    address = raw.slice(1, close);
    portText = raw.slice(close + 2);
  } else if (isIP(raw) === 0 && raw.includes(':')) {
    const colon = raw.lastIndexOf(':');
    address = raw.slice(0, colon);
    portText = raw.slice(colon + 1);
  }
  const family = isIP(address);
  if (family !== 4 && family !== 6) fail('as an IP address failed');
  if (portText === undefined) return { address, family: family as 4 | 6 };
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) fail('as address:port failed');
  return { address, family: family as 4 | 6, port: Number(portText) };
}

function direction(prefix: string, a: string, b: string, c: string, cumulative: string): DirectionStats {
  return { rates: rates(prefix, a, b, c), cumulativeBytes: bytes(`${prefix} cumulative`, cumulative) };
}

function complete(t: TotalsDraft): Totals | undefined {
  const { sendRate, receiveRate, totalRate, peak, cumulative } = t;
  if (!sendRate || !receiveRate || !totalRate || !peak || !cumulative) return undefined;
  return { sendRate, receiveRate, totalRate, peak, cumulative };
}

/**
 * Parses the text of `iftop -t` (one or many snapshots). Total: it never throws. A line it cannot
 * read is reported in `issues` with its line number and raw text and skipped; everything else
 * is kept. A snapshot cut short keeps its flows and has no `totals`.
 */
export function parseIftop(text: string, options: ParseOptions = {}): ParseResult {
  const maxIssues = options.maxIssues ?? 1000;
  const issues: ParseIssue[] = [];
  const snapshots: Snapshot[] = [];
  let iface: string | undefined;

  let current: { line: number; flows: Flow[]; totals: TotalsDraft } | undefined;
  let pending:
    { line: number; raw: string; rank: number; source: Endpoint; sent: DirectionStats } | undefined;
  // Set when a "=>" line was reported: its "<=" line is then skipped without a second report.
  let skipReceived = false;

  const report = (line: number, raw: string, reason: string): void => {
    if (issues.length < maxIssues) issues.push({ line, raw: raw.slice(0, RAW_LIMIT), reason });
  };
  const dropPending = (): void => {
    if (pending) report(pending.line, pending.raw, 'flow line "=>" without its "<=" line');
    pending = undefined;
  };
  const close = (line: number, raw: string, ended: boolean): void => {
    if (!current) return;
    dropPending();
    const totals = complete(current.totals);
    if (!ended || !totals)
      report(line, raw, `snapshot from line ${current.line} ended before its totals block`);
    snapshots.push(
      totals
        ? { line: current.line, flows: current.flows, totals }
        : { line: current.line, flows: current.flows },
    );
    current = undefined;
  };

  const lines = text.split(/\r?\n/);
  // A trailing newline leaves one empty string: not a line of its own.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();

  lines.forEach((raw, index) => {
    const n = index + 1;
    try {
      if (raw.trim() === '') return;
      const orphanExpected = skipReceived;
      skipReceived = false;
      if (HEADING.test(raw)) {
        if (current) close(n, raw, false);
        current = { line: n, flows: [], totals: {} };
        return;
      }
      const listening = LISTENING.exec(raw);
      if (listening) {
        iface = listening[1];
        return;
      }
      if (!current) {
        report(n, raw, 'line outside a snapshot table');
        return;
      }
      if (DIVIDER.test(raw)) {
        dropPending();
        return;
      }
      if (END.test(raw)) {
        close(n, raw, true);
        return;
      }
      const sent = SENT_LINE.exec(raw);
      if (sent) {
        dropPending();
        skipReceived = true;
        const [, rank = '', host = '', a = '', b = '', c = '', cum = ''] = sent;
        pending = {
          line: n,
          raw,
          rank: Number(rank),
          source: endpoint('source', host),
          sent: direction('sent', a, b, c, cum),
        };
        skipReceived = false;
        return;
      }
      const received = RECEIVED_LINE.exec(raw);
      if (received) {
        const head = pending;
        pending = undefined;
        if (!head) {
          if (!orphanExpected) report(n, raw, 'flow line "<=" without its "=>" line');
          return;
        }
        const [, host = '', a = '', b = '', c = '', cum = ''] = received;
        current.flows.push({
          rank: head.rank,
          source: head.source,
          destination: endpoint('destination', host),
          sent: head.sent,
          received: direction('received', a, b, c, cum),
        });
        return;
      }
      for (const [pattern, key] of TOTAL_LINES) {
        const m = pattern.exec(raw);
        if (!m) continue;
        const [, a = '', b = '', c = ''] = m;
        if (key === 'peak') {
          current.totals.peak = {
            sent: rate('peak sent', a),
            received: rate('peak received', b),
            total: rate('peak total', c),
          };
        } else if (key === 'cumulative') {
          current.totals.cumulative = {
            sentBytes: bytes('cumulative sent', a),
            receivedBytes: bytes('cumulative received', b),
            totalBytes: bytes('cumulative total', c),
          };
        } else {
          current.totals[key] = rates(key, a, b, c);
        }
        return;
      }
      report(n, raw, 'unrecognised line');
    } catch (err) {
      // Only FieldError is expected here; anything else is still reported, never thrown.
      report(n, raw, err instanceof FieldError ? err.message : `unexpected: ${String(err)}`);
    }
  });
  if (current) close(lines.length, lines[lines.length - 1] ?? '', false);

  return iface === undefined ? { snapshots, issues } : { interface: iface, snapshots, issues };
}
