import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../log/logger.js';

/** Runs a job on a cron schedule; a tick that comes while the job still runs is skipped. */
export interface Scheduler {
  start(): void;
  /** Stops future ticks; the running job (if any) is not interrupted. */
  stop(): Promise<void>;
  nextRun(): Date | null;
}

/** A node-cron schedule with `noOverlap`, its overlaps and failures logged. */
export function cronScheduler(expression: string, job: () => Promise<void>, log: Logger): Scheduler {
  const task: ScheduledTask = cron.createTask(expression, job, {
    name: 'nstats-cycle',
    noOverlap: true,
    logger: {
      info: (m) => log.debug(`scheduler: ${m}`),
      warn: (m) => log.warn(`scheduler: ${m}`),
      error: (m, e) => log.error({ err: e ?? m }, `scheduler: ${String(m)}`),
      debug: (m) => log.debug(`scheduler: ${String(m)}`),
    },
  });
  task.on('execution:overlap', () =>
    log.warn('scheduler: tick skipped, the previous cycle is still running'),
  );
  task.on('execution:failed', (ctx) => log.error({ err: ctx.execution?.error }, 'scheduler: cycle failed'));
  return {
    start: () => void task.start(),
    stop: async () => {
      await task.destroy();
    },
    nextRun: () => task.getNextRun(),
  };
}
