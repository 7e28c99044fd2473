/**
 * Global setup of the vitest "integration" project.
 *
 * - Removes test nets left behind by earlier runs that were killed (owner process gone).
 * - InfluxDB 1.6 and VictoriaMetrics: uses NSTATS_TEST_INFLUX1_URL / NSTATS_TEST_VM_URL when
 *   set (checked for reachability, never stopped here), otherwise starts private servers on
 *   127.0.0.1 and stops them in teardown. A missing binary is an error, never a skip.
 * - Provides `influx1Url` and `vmUrl` to the tests (inject, or testServers() from
 *   test/helpers/servers.ts).
 */
import type { TestProject } from 'vitest/node';
import { sweepStaleTestNets } from './helpers/netns.js';
import {
  startInflux1,
  startVictoriaMetrics,
  useExternalServer,
  type RunningServer,
} from './helpers/servers.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the integration tests need root (network namespaces, veth, iftop)');
  }
  const swept = sweepStaleTestNets();
  // If this run is interrupted, remove the nets its workers left (their own handlers may not run).
  process.once('exit', () => sweepStaleTestNets({ ownedBy: process.pid }));
  if (swept.length) console.warn(`[global-setup] removed stale test nets: ${swept.join(', ')}`);

  const influxEnv = process.env.NSTATS_TEST_INFLUX1_URL;
  const vmEnv = process.env.NSTATS_TEST_VM_URL;
  const results = await Promise.allSettled([
    influxEnv ? useExternalServer('influx1', influxEnv) : startInflux1(),
    vmEnv ? useExternalServer('vm', vmEnv) : startVictoriaMetrics(),
  ]);
  const started: RunningServer[] = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failed.length) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw failed[0] instanceof Error ? failed[0] : new Error(String(failed[0]));
  }
  const [influx, vm] = started as [RunningServer, RunningServer];
  project.provide('influx1Url', influx.url);
  project.provide('vmUrl', vm.url);

  return async () => {
    await Promise.allSettled(started.map((s) => s.stop()));
    sweepStaleTestNets({ ownedBy: process.pid });
  };
}
