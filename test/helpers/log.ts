import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log/logger.js';

/** A real pino logger whose JSON events land in an array, for tests to read. */
export function memoryLog(level = 'info'): { log: Logger; events: Array<Record<string, unknown>> } {
  const events: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean))
        events.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger(level, stream), events };
}
