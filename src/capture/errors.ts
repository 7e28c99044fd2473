/** Why a capture failed, each with its own fix: every kind, in the order metrics list them. */
export const CAPTURE_FAILURES = ['iftop-missing', 'permission', 'no-such-interface', 'failed'] as const;
export type CaptureFailure = (typeof CAPTURE_FAILURES)[number];

const FIXES: Readonly<Record<CaptureFailure, (iface: string, command: string) => string>> = {
  'iftop-missing': (_i, command) =>
    `install iftop (Debian/Ubuntu: apt-get install iftop; Alpine: apk add iftop) or set NSTATS_IFTOP_PATH; tried: ${command}`,
  permission: (iface) =>
    `capturing on ${iface} needs CAP_NET_RAW: run as root, or add NET_RAW to the container's securityContext.capabilities (with a non-root user, iftop needs the file capability cap_net_raw+ep, as the nstats image sets)`,
  'no-such-interface': (iface) =>
    `there is no interface ${iface} here: set NSTATS_INTERFACE (or IFACE) to one listed by "ip link", or unset it to use the default route's interface`,
  failed: () => 'see the stderr above; run the same command by hand to investigate',
};

/** A capture that could not run or failed. Carries the command, exit code and stderr tail. */
export class CaptureError extends Error {
  override readonly name = 'CaptureError';
  readonly fix: string;
  constructor(
    readonly failure: CaptureFailure,
    readonly iface: string,
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderrTail: string,
  ) {
    const fix = FIXES[failure](iface, command);
    super(
      `capture: ${describe(failure, iface)} (command: ${command}; exit code: ${exitCode ?? 'none'}${
        stderrTail ? `; stderr: ${stderrTail}` : ''
      }). Fix: ${fix}`,
    );
    this.fix = fix;
  }
}

function describe(failure: CaptureFailure, iface: string): string {
  switch (failure) {
    case 'iftop-missing':
      return 'iftop is not installed or not on PATH';
    case 'permission':
      return `no permission to capture on ${iface}`;
    case 'no-such-interface':
      return `interface ${iface} does not exist`;
    case 'failed':
      return 'iftop failed';
  }
}

/** Reads iftop's stderr to tell why it exited non-zero. */
export function classifyIftopFailure(stderr: string): CaptureFailure {
  // Through setpriv or stdbuf (see IftopStream): iftop itself was not found.
  if (/failed to (execute|run command) .*No such file or directory/i.test(stderr)) return 'iftop-missing';
  if (/permission to perform this capture|Operation not permitted|Permission denied/i.test(stderr))
    return 'permission';
  if (/No such device|SIOCGIFHWADDR/i.test(stderr)) return 'no-such-interface';
  return 'failed';
}

/** The last lines of stderr, one line, at most 500 characters. */
export function tail(stderr: string): string {
  const lines = stderr.trim().split('\n').slice(-4).join(' | ');
  return lines.length > 500 ? `...${lines.slice(-500)}` : lines;
}
