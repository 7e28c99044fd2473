import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { CaptureError } from '../capture/errors.js';
import type { Config } from '../config/config.js';
import { ConfigError } from '../config/errors.js';
import { loadConfig, loadDotenvFile } from '../config/load.js';
import { SETTINGS, settingDefault, type SettingName } from '../config/schema.js';
import { createLogger } from '../log/logger.js';
import { formatCheck, runChecks } from './check.js';
import {
  namesCommand,
  nodeCommand,
  nodeListCommand,
  onceCommand,
  runCommand,
  setupCommand,
} from './commands.js';

/** Exit codes: 0 ok, 1 runtime failure, 2 usage or config error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

function positiveInt(name: string, min: number, max: number) {
  return (value: string): string => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`${name} expects a whole number from ${min} to ${max}, got "${value}"`);
    }
    return value;
  };
}

function settingsHelp(): string {
  const rows = (Object.keys(SETTINGS) as SettingName[]).map((name) => {
    const s = SETTINGS[name];
    return `  ${[s.env, ...(s.aliases ?? [])].join(' | ')}\n      ${s.description} Default: ${settingDefault(name)}.`;
  });
  return `\nSettings (environment, or a .env file in the working directory):\n${rows.join('\n')}\n`;
}

/** Config from the environment (and .env), with command-line overrides applied first. */
function config(overrides: Record<string, string | undefined>): Config {
  loadDotenvFile();
  const env = { ...process.env };
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) env[k] = v;
  return loadConfig(env);
}

/** Builds the `nstats` program; `run` resolves to the exit code. */
export function program(setExit: (code: number) => void): Command {
  const cmd = new Command('nstats')
    .description(
      'Where a pod\'s bandwidth goes: iftop flows, named peers, written to InfluxDB as "nstat" points.',
    )
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .addHelpText('after', settingsHelp());

  cmd
    .command('once')
    .description('Capture one sample and print its flows.')
    .option(
      '-i, --interface <if>',
      "interface to capture on (default: NSTATS_INTERFACE, else the default route's)",
    )
    .option(
      '-s, --seconds <n>',
      'sample length in seconds (default: NSTATS_SAMPLE_SECONDS, 10)',
      positiveInt('--seconds', 10, 3600),
    )
    .addOption(
      new Option('-f, --format <format>', 'output format')
        .choices(['table', 'json', 'line'])
        .default('table'),
    )
    .action(async (opts: { interface?: string; seconds?: string; format: 'table' | 'json' | 'line' }) => {
      const c = config({ NSTATS_INTERFACE: opts.interface, NSTATS_SAMPLE_SECONDS: opts.seconds });
      setExit(await onceCommand(c, opts.format));
    });

  cmd
    .command('run')
    .description(
      'Run the daemon: sample on the schedule and write points (to stdout when no InfluxDB is set).',
    )
    .option(
      '--max-cycles <n>',
      'stop after this many cycles (default: run until SIGTERM)',
      positiveInt('--max-cycles', 1, 1e9),
    )
    .action(async (opts: { maxCycles?: string }) => {
      const c = config({});
      setExit(await runCommand(c, opts.maxCycles === undefined ? undefined : Number(opts.maxCycles)));
    });

  cmd
    .command('node')
    .description(
      "Run the node agent: capture every pod network namespace of this node and the node's own (needs hostPID, host network, NET_RAW, SYS_ADMIN, SYS_PTRACE).",
    )
    .option('--list', 'print the namespaces and pods it would capture, once, and exit')
    .addOption(
      new Option('-f, --format <format>', 'output format of --list')
        .choices(['table', 'json'])
        .default('table'),
    )
    .option(
      '--max-cycles <n>',
      'stop after this many cycles (default: run until SIGTERM)',
      positiveInt('--max-cycles', 1, 1e9),
    )
    .action(async (opts: { list?: boolean; format: 'table' | 'json'; maxCycles?: string }) => {
      const c = config({});
      if (opts.list) return setExit(await nodeListCommand(c, opts.format));
      setExit(await nodeCommand(c, opts.maxCycles === undefined ? undefined : Number(opts.maxCycles)));
    });

  cmd
    .command('names')
    .description(
      "Run the cluster's names service: watch pods, Services and nodes, answer sidecars' look-ups (NSTATS_NAMES_PORT).",
    )
    .action(async () => {
      setExit(await namesCommand(config({})));
    });

  cmd
    .command('check')
    .description(
      'Check config, iftop, capture permission, DNS, InfluxDB and the spool; one line per check with the fix.',
    )
    .action(async () => {
      let c: Config;
      try {
        c = config({});
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stdout.write(`FAIL ${err.message.replace(/\n\s*/g, '; ')}\n`);
          setExit(EXIT.usage);
          return;
        }
        throw err;
      }
      const results = await runChecks(c);
      for (const r of results) process.stdout.write(`${formatCheck(r)}\n`);
      setExit(results.every((r) => r.ok) ? EXIT.ok : EXIT.failure);
    });
  cmd
    .command('setup')
    .description(
      'Create or fix retention and the 1 h roll-up on InfluxDB (policies or buckets, continuous queries or a task, a backfill); one line per object. Safe to run again.',
    )
    .action(async () => {
      setExit(await setupCommand(config({})));
    });
  return cmd;
}

/** Runs the CLI with these arguments; resolves to the exit code. Never throws. */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  if (argv.length === 0) {
    // No command is a usage error: say what the commands are, on stderr.
    program(() => undefined).outputHelp({ error: true });
    return EXIT.usage;
  }
  try {
    await program((c) => (code = c)).parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return EXIT.ok;
      return EXIT.usage;
    }
    const code = err instanceof ConfigError ? EXIT.usage : EXIT.failure;
    if (argv[0] === 'run' || argv[0] === 'names' || (argv[0] === 'node' && !argv.includes('--list'))) {
      // A service's stderr is JSON events only, also when it cannot start.
      const message = (err instanceof Error ? err.message : String(err)).split(/\n\s*/).join('; ');
      createLogger('info').fatal(
        err instanceof ConfigError ? { problems: err.problems, exitCode: code } : { err, exitCode: code },
        message,
      );
    } else if (err instanceof ConfigError || err instanceof CaptureError) {
      process.stderr.write(`nstats: ${err.message}\n`);
    } else {
      process.stderr.write(`nstats: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    return code;
  }
}
