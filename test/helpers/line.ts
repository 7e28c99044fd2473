import type { MetricRecord } from '../../src/record/record.js';
import { encodeLines, type Precision } from '../../src/sink/line-protocol.js';

/** One record's line-protocol line ('' when it gives none). */
export function lineOf(record: MetricRecord, precision: Precision = 'ms'): string {
  return encodeLines([record], precision)[0] ?? '';
}
