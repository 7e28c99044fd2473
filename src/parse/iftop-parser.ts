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
} from './types.js';
import { isDigit, isIPv4 } from './text.js';
import { quantityValue } from './units.js';

/** Parser limits. */
export interface ParseOptions {
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
/**
 * A "=>" line and its "<=" line, read in one go from the text where a line starts (sticky): the
 * two patterns above with `\s` as `[^\S\n]` (a line's whitespace, CR included, as `\s*$` takes a
 * CR before the newline), then the newline, or the end of the text after the second line. It
 * matches where both lines would match their own pattern.
 */
const FLOW_PAIR = new RegExp(
  String.raw`[^\S\n]*(\d+)[^\S\n]+(\S+)[^\S\n]+=>[^\S\n]+(\S+)[^\S\n]+(\S+)[^\S\n]+(\S+)[^\S\n]+(\S+)[^\S\n]*\n` +
    String.raw`[^\S\n]+(\S+)[^\S\n]+<=[^\S\n]+(\S+)[^\S\n]+(\S+)[^\S\n]+(\S+)[^\S\n]+(\S+)[^\S\n]*(?:\n|$)`,
  'y',
);
const TOTAL_LINES: ReadonlyArray<[RegExp, keyof TotalsDraft]> = [
  [/^Total send rate:\s+(\S+)\s+(\S+)\s+(\S+)\s*$/, 'sendRate'],
  [/^Total receive rate:\s+(\S+)\s+(\S+)\s+(\S+)\s*$/, 'receiveRate'],
  [/^Total send and receive rate:\s+(\S+)\s+(\S+)\s+(\S+)\s*$/, 'totalRate'],
  [/^Peak rate \(sent\/received\/total\):\s+(\S+)\s+(\S+)\s+(\S+)\s*$/, 'peak'],
  [/^Cumulative \(sent\/received\/total\):\s+(\S+)\s+(\S+)\s+(\S+)\s*$/, 'cumulative'],
];

type TotalsDraft = { -readonly [K in keyof Totals]?: Totals[K] };

class FieldError extends Error {}

const BITS = 0x62; // b
const BYTES = 0x42; // B

/** A rate column in bits/s (iftop prints bytes/s with -B). */
function rate(field: string, raw: string): number {
  const value = quantityValue(raw);
  if (Number.isNaN(value)) throw new FieldError(`parsing "${field}" (${raw}) as a rate failed`);
  return raw.charCodeAt(raw.length - 1) === BITS ? value : value * 8;
}

function bytes(field: string, raw: string): number {
  const value = quantityValue(raw);
  if (Number.isNaN(value) || raw.charCodeAt(raw.length - 1) !== BYTES)
    throw new FieldError(`parsing "${field}" (${raw}) as bytes failed`);
  return value;
}

/** The field names of one direction's four columns, as issues name them. */
interface DirectionLabels {
  readonly last2s: string;
  readonly last10s: string;
  readonly last40s: string;
  readonly cumulative: string;
}

function labels(prefix: string): DirectionLabels {
  return {
    last2s: `${prefix} last 2s`,
    last10s: `${prefix} last 10s`,
    last40s: `${prefix} last 40s`,
    cumulative: `${prefix} cumulative`,
  };
}

const SENT = labels('sent');
const RECEIVED = labels('received');
const TOTAL_LABELS: Readonly<Record<string, DirectionLabels>> = {
  sendRate: labels('sendRate'),
  receiveRate: labels('receiveRate'),
  totalRate: labels('totalRate'),
};

function rates(names: DirectionLabels, a: string, b: string, c: string): Rates {
  return {
    last2s: rate(names.last2s, a),
    last10s: rate(names.last10s, b),
    last40s: rate(names.last40s, c),
  };
}

/**
 * A host as iftop prints it with `-n`: `1.2.3.4`, `1.2.3.4:80` (with `-P`), `fd00::1`, or
 * `[fd00::1]:80` (IPv6 with `-P`; ICMP flows have no port even then). The host column is 40
 * characters: a long `[IPv6]:port` loses its end, leaving `[fd00:...:e:40001` with no `]`. Such a
 * host cannot be known, so it is reported rather than guessed (the guess can be a valid address).
 */
function endpoint(field: string, raw: string): Endpoint {
  // Fast path for what iftop prints most: `1.2.3.4` or `1.2.3.4:80`. Anything else, including
  // a bad port, takes the general path below, which gives the same result or the same issue.
  const colon = raw.indexOf(':');
  if (colon < 0) {
    if (isIPv4(raw)) return { address: raw, family: 4 };
  } else if (colon > 0 && colon < raw.length - 1 && colon >= raw.length - 6 && isIPv4(raw, 0, colon)) {
    let port = 0;
    let i = colon + 1;
    while (i < raw.length && isDigit(raw.charCodeAt(i))) port = port * 10 + (raw.charCodeAt(i++) - 0x30);
    if (i === raw.length && port <= 65535) return { address: raw.slice(0, colon), family: 4, port };
  }
  return anyEndpoint(field, raw);
}

function anyEndpoint(field: string, raw: string): Endpoint {
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

function direction(
  names: DirectionLabels,
  a: string,
  b: string,
  c: string,
  cumulative: string,
): DirectionStats {
  return { rates: rates(names, a, b, c), cumulativeBytes: bytes(names.cumulative, cumulative) };
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

  // The last host read on each side, and what it was read as: one side is often the same host
  // (the pod) on every line. An Endpoint is immutable, so flows can share it.
  let sourceRaw = '';
  let sourceEndpoint: Endpoint | undefined;
  let destinationRaw = '';
  let destinationEndpoint: Endpoint | undefined;
  const source = (raw: string): Endpoint => {
    if (sourceEndpoint === undefined || raw !== sourceRaw) {
      sourceEndpoint = endpoint('source', raw);
      sourceRaw = raw;
    }
    return sourceEndpoint;
  };
  const destination = (raw: string): Endpoint => {
    if (destinationEndpoint === undefined || raw !== destinationRaw) {
      destinationEndpoint = endpoint('destination', raw);
      destinationRaw = raw;
    }
    return destinationEndpoint;
  };

  /** Reads a "=>" line: false when the line does not have the shape of one. */
  const readSent = (raw: string, n: number): boolean => {
    const sent = SENT_LINE.exec(raw);
    if (!sent) return false;
    skipReceived = false;
    dropPending();
    skipReceived = true;
    // Indexed, not destructured: destructuring goes through the array iterator.
    pending = {
      line: n,
      raw,
      rank: Number(sent[1]),
      source: source(sent[2] ?? ''),
      sent: direction(SENT, sent[3] ?? '', sent[4] ?? '', sent[5] ?? '', sent[6] ?? ''),
    };
    skipReceived = false;
    return true;
  };

  /** Reads a "<=" line: false when the line does not have the shape of one. */
  const readReceived = (raw: string, n: number, snapshot: { flows: Flow[] }): boolean => {
    const received = RECEIVED_LINE.exec(raw);
    if (!received) return false;
    const orphanExpected = skipReceived;
    skipReceived = false;
    const head = pending;
    pending = undefined;
    if (!head) {
      if (!orphanExpected) report(n, raw, 'flow line "<=" without its "=>" line');
      return true;
    }
    snapshot.flows.push({
      rank: head.rank,
      source: head.source,
      destination: destination(received[1] ?? ''),
      sent: head.sent,
      received: direction(
        RECEIVED,
        received[2] ?? '',
        received[3] ?? '',
        received[4] ?? '',
        received[5] ?? '',
      ),
    });
    return true;
  };

  /**
   * Reads a flow line: false when the line has the shape of neither kind. No line has both
   * shapes, so the order of the two tries changes nothing but the time: after a "=>" line, a
   * "<=" line is expected.
   */
  const readFlowLine = (raw: string, n: number, snapshot: { flows: Flow[] }): boolean =>
    pending
      ? readReceived(raw, n, snapshot) || readSent(raw, n)
      : readSent(raw, n) || readReceived(raw, n, snapshot);

  const readLine = (raw: string, n: number): void => {
    // Flow lines first: they are most of the text, and no other kind of line has their shape
    // (the heading starts with "#", the others with a letter, "-" or "=").
    if (current && readFlowLine(raw, n, current)) return;
    if (raw.trim() === '') return;
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
        current.totals[key] = rates(TOTAL_LABELS[key] ?? labels(key), a, b, c);
      }
      return;
    }
    report(n, raw, 'unrecognised line');
  };

  // Lines end with "\n" or "\r\n", as text.split(/\r?\n/) would cut them; a trailing newline
  // leaves no line of its own. Cut one at a time: no array of every line.
  /** A line's text as the loop below cuts it: its CR is dropped when a newline follows. */
  const lineText = (from: number, to: number): string =>
    text.slice(from, to < text.length && to > from && text.charCodeAt(to - 1) === 0x0d ? to - 1 : to);
  const reportError = (line: number, raw: string, err: unknown): void =>
    // Only FieldError is expected here; anything else is still reported, never thrown.
    report(line, raw, err instanceof FieldError ? err.message : `unexpected: ${String(err)}`);

  let n = 0;
  // Where the last line read is (its text is cut only if a snapshot is left open at the end).
  let lastFrom = 0;
  let lastTo = 0;
  let from = 0;
  while (from < text.length) {
    if (current && !pending) {
      // Most of a table: a "=>" line and its "<=" line. Read together, they do what readLine()
      // does with each (the same flow, the same issues, the same state after), in one match.
      FLOW_PAIR.lastIndex = from;
      const m = FLOW_PAIR.exec(text);
      if (m) {
        const end = FLOW_PAIR.lastIndex;
        const first = text.indexOf('\n', from);
        const second = end < text.length || text.charCodeAt(end - 1) === 0x0a ? end - 1 : end;
        const n1 = ++n;
        const n2 = ++n;
        let rank = 0;
        let from1: Endpoint | undefined;
        let sent: DirectionStats | undefined;
        try {
          rank = Number(m[1]);
          from1 = source(m[2] ?? '');
          sent = direction(SENT, m[3] ?? '', m[4] ?? '', m[5] ?? '', m[6] ?? '');
        } catch (err) {
          // Its "<=" line is then skipped without a second report.
          reportError(n1, lineText(from, first), err);
        }
        if (from1 && sent) {
          try {
            current.flows.push({
              rank,
              source: from1,
              destination: destination(m[7] ?? ''),
              sent,
              received: direction(RECEIVED, m[8] ?? '', m[9] ?? '', m[10] ?? '', m[11] ?? ''),
            });
          } catch (err) {
            reportError(n2, lineText(first + 1, second), err);
          }
        }
        skipReceived = false;
        lastFrom = first + 1;
        lastTo = second;
        from = second + 1;
        continue;
      }
    }
    const newline = text.indexOf('\n', from);
    const to = newline < 0 ? text.length : newline;
    const raw = lineText(from, to);
    n++;
    lastFrom = from;
    lastTo = to;
    try {
      readLine(raw, n);
    } catch (err) {
      reportError(n, raw, err);
    }
    from = to + 1;
  }
  if (current) close(n, lineText(lastFrom, lastTo), false);

  return iface === undefined ? { snapshots, issues } : { interface: iface, snapshots, issues };
}
