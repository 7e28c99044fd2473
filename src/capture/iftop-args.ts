/**
 * iftop's command line, for every way nstats runs it (a sample, a continuous stream, the
 * permission check): numeric hosts and ports (`-nN`), no bar graph (`-b`), text output (`-t`) on
 * one interface. Rates are then in bits/s (no `-B`), the cumulative column in bytes.
 */
export interface IftopArgsOptions {
  readonly interface: string;
  /** Most flows iftop prints (`-L`); iftop's own default (10) when left out. */
  readonly flowLimit?: number;
  /** Split flows by port (`-P`). */
  readonly ports?: boolean;
  /** Seconds after which iftop prints one table and exits (`-s`); it runs until stopped without. */
  readonly seconds?: number;
}

export function iftopArgs(o: IftopArgsOptions): string[] {
  const args = ['-nNb', '-t', '-i', o.interface];
  if (o.seconds !== undefined) args.push('-s', String(o.seconds));
  if (o.flowLimit !== undefined) args.push('-L', String(o.flowLimit));
  if (o.ports) args.push('-P');
  return args;
}

/**
 * iftop's rate columns are kept in 2 s slots and its first slot is partial (capture opens mid-slot),
 * so a 10 s window needs iftop to run 12 s: sample + 2, rounded up to a slot.
 */
export function iftopSeconds(sampleSeconds: number): number {
  return 2 * Math.ceil(sampleSeconds / 2) + 2;
}
