import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parseFlux } from '../helpers/flux.js';
import { expandInfluxQL, type VariableValue } from '../helpers/grafana-influxql.js';
import { validateDashboard } from '../helpers/grafana-schema.js';

// Static checks of the Grafana dashboards (no Grafana server runs here): the files are what
// scripts/dashboards.mjs writes, they validate against Grafana's dashboard schema, their layout,
// data source references, units and Node Graph targets are right, every InfluxQL query expands
// with Grafana's macros and the dashboard's own variables only, every Flux query parses, and the
// two sets have the same panels and variables. test/integration/grafana-influxql.test.ts runs the
// InfluxQL queries against real data.

const ROOT = new URL('../../', import.meta.url);
const SETS = ['influxql', 'flux'] as const;
const UIDS = ['nstats-pod', 'nstats-overview', 'nstats-trends', 'nstats-interface'];
/** The Flux set's own variable: the bucket the sidecars write to (InfluxQL reads the database's default policy). */
const FLUX_ONLY_VARIABLES = ['bucket'];

type Json = Record<string, unknown>;
interface Panel extends Json {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  interval?: string;
  datasource: unknown;
  targets: Array<Json & { refId: string; query: string }>;
  fieldConfig: { defaults: { unit?: string }; overrides: unknown[] };
}
interface Variable extends Json {
  type: string;
  name: string;
  query: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}
interface Dashboard extends Json {
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

function read(set: string, uid: string): { text: string; d: Dashboard } {
  const text = readFileSync(new URL(`grafana/dashboards/${set}/${uid}.json`, ROOT), 'utf8');
  return { text, d: JSON.parse(text) as Dashboard };
}

const files = SETS.flatMap((set) => UIDS.map((uid) => ({ set, uid, ...read(set, uid) })));

/** Every value under the key `key`, anywhere in a JSON value. */
function valuesOfKey(v: unknown, key: string, out: unknown[] = []): unknown[] {
  if (Array.isArray(v)) for (const x of v) valuesOfKey(x, key, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === key) out.push(x);
      valuesOfKey(x, key, out);
    }
  }
  return out;
}

/** A value for every variable, as Grafana would give the queries. */
function sampleVariables(d: Dashboard): Record<string, VariableValue> {
  const vars: Record<string, VariableValue> = {};
  for (const v of d.templating.list) {
    if (v.type === 'datasource') continue;
    if (v.type === 'textbox') vars[v.name] = { value: [v.query], regex: false };
    else vars[v.name] = { value: ['a.b', 'c'], regex: Boolean(v.multi || v.includeAll) };
  }
  return vars;
}

describe('Grafana dashboards', () => {
  it('are what scripts/dashboards.mjs writes, four per set', () => {
    for (const set of SETS) {
      expect(readdirSync(new URL(`grafana/dashboards/${set}/`, ROOT)).sort()).toEqual(
        UIDS.map((u) => `${u}.json`).sort(),
      );
    }
    execFileSync(process.execPath, [fileURLToPath(new URL('scripts/dashboards.mjs', ROOT)), '--check'], {
      stdio: 'pipe',
    });
  });

  for (const { set, uid, text, d } of files) {
    describe(`${set}/${uid}.json`, () => {
      it("validates against Grafana's dashboard schema", () => {
        expect(validateDashboard(d)).toEqual([]);
      });

      it('is provisionable: a pinned schemaVersion, no pluginVersion, no ${DS_...} inputs', () => {
        expect(d.schemaVersion).toBe(39);
        expect(valuesOfKey(d, 'pluginVersion')).toEqual([]);
        expect(text).not.toMatch(/\$\{DS_/);
        expect(d).not.toHaveProperty('__inputs');
        expect(d.uid).toBe(set === 'flux' ? `${uid}-flux` : uid);
      });

      it('has unique panel ids and panels inside the 24-column grid, none overlapping', () => {
        const ids = d.panels.map((p) => p.id);
        expect(new Set(ids).size).toBe(ids.length);
        for (const p of d.panels) {
          const g = p.gridPos;
          expect(
            g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0 && g.y >= 0,
            `${p.title}: ${JSON.stringify(g)}`,
          ).toBe(true);
        }
        for (const a of d.panels) {
          for (const b of d.panels) {
            if (a.id >= b.id) continue;
            const apart =
              a.gridPos.x + a.gridPos.w <= b.gridPos.x ||
              b.gridPos.x + b.gridPos.w <= a.gridPos.x ||
              a.gridPos.y + a.gridPos.h <= b.gridPos.y ||
              b.gridPos.y + b.gridPos.h <= a.gridPos.y;
            expect(apart, `"${a.title}" overlaps "${b.title}"`).toBe(true);
          }
        }
      });

      it('refers to its data source only through the datasource variable', () => {
        const dsVar = d.templating.list.find((v) => v.type === 'datasource');
        expect(dsVar).toMatchObject({ name: 'datasource', query: 'influxdb' });
        const refs = valuesOfKey(d, 'datasource');
        expect(refs.length).toBeGreaterThan(d.panels.length);
        for (const ref of refs) expect(ref).toEqual({ type: 'influxdb', uid: '${datasource}' });
        for (const p of d.panels) {
          expect(p.datasource).toBeDefined();
          for (const t of p.targets) expect(t.datasource, `${p.title} ${t.refId}`).toBeDefined();
        }
      });

      it('gives every Node Graph panel an edges target', () => {
        for (const p of d.panels.filter((x) => x.type === 'nodeGraph')) {
          expect(p.targets.map((t) => t.refId)).toContain('edges');
        }
      });

      it('shows rates in bits/s, byte totals in bytes', () => {
        for (const p of d.panels) {
          const queries = p.targets.map((t) => t.query).join('\n');
          const unit = p.fieldConfig.defaults.unit;
          const rates = /Rate"|derivative/.test(queries) && !/Packets/.test(queries);
          const packets = /Packets/.test(queries);
          const bytes = /Bytes"/.test(queries) && !/derivative/.test(queries);
          if (packets) expect(unit, p.title).toBe('pps');
          else if (/count\(/.test(queries) && !bytes) expect(unit, p.title).toBe('none');
          else if (rates && !bytes) expect(unit, p.title).toBe('bps');
          else if (bytes && !rates) expect(unit, p.title).toBe('bytes');
          else throw new Error(`${p.title}: mixes rates and bytes`);
        }
      });

      if (set === 'influxql') {
        it('uses only Grafana macros and its own variables in every query', () => {
          const variables = sampleVariables(d);
          const all = [
            ...d.panels.flatMap((p) =>
              p.targets.map((t) => ({ what: `${p.title} ${t.refId}`, q: t.query, p })),
            ),
            ...d.templating.list
              .filter((v) => v.type === 'query')
              .map((v) => ({ what: `variable ${v.name}`, q: v.query, p: undefined })),
          ];
          for (const { what, q, p } of all) {
            const expanded = expandInfluxQL(q, {
              fromMs: 0,
              toMs: 3_600_000,
              minInterval: p?.interval,
              variables,
            });
            expect(expanded, what).not.toMatch(/\$\w/);
          }
        });

        it('means rates per series before summing them, and reads bytes only as sums of deltas', () => {
          for (const p of d.panels) {
            for (const t of p.targets) {
              // A sum of a rate field straight from the measurement would add cycles up.
              expect(t.query, `${p.title} ${t.refId}`).not.toMatch(
                /sum\("(send|receive)Rate"\) [^(]*FROM "nstat"/,
              );
              // The cumulative counters are read through a difference only.
              expect(t.query).not.toMatch(/sum\("(rx|tx)(Bytes|Packets)"\)/);
            }
          }
        });
      } else {
        it('parses as Flux, every query and variable', () => {
          const vars: Record<string, string> = {};
          for (const v of d.templating.list) vars[v.name] = v.type === 'textbox' ? v.query : '(a\\.b|c)';
          for (const p of d.panels) {
            for (const t of p.targets) expect(parseFlux(t.query, vars), `${p.title} ${t.refId}`).toEqual([]);
          }
          for (const v of d.templating.list.filter((x) => x.type === 'query')) {
            expect(parseFlux(v.query, vars), `variable ${v.name}`).toEqual([]);
          }
        });
      }
    });
  }

  it('has the same panels and variables in the Flux set as in the InfluxQL set', () => {
    for (const uid of UIDS) {
      const ql = read('influxql', uid).d;
      const fx = read('flux', uid).d;
      const shape = (p: Panel) => ({
        id: p.id,
        type: p.type,
        title: p.title,
        gridPos: p.gridPos,
        unit: p.fieldConfig.defaults.unit,
      });
      expect(fx.panels.map(shape)).toEqual(ql.panels.map(shape));
      const names = (x: Dashboard) => x.templating.list.map((v) => v.name);
      expect(names(fx).filter((n) => !FLUX_ONLY_VARIABLES.includes(n))).toEqual(names(ql));
      const kinds = (x: Dashboard) =>
        x.templating.list
          .filter((v) => !FLUX_ONLY_VARIABLES.includes(v.name))
          .map((v) => [v.name, v.type, v.multi ?? false, v.includeAll ?? false, v.allValue ?? null]);
      expect(kinds(fx)).toEqual(kinds(ql));
      for (const p of fx.panels) expect(p.targets.length, `${uid} ${p.title}`).toBeGreaterThan(0);
    }
  });
});

describe('Grafana provisioning', () => {
  const yaml = (path: string) => load(readFileSync(new URL(path, ROOT), 'utf8')) as Json;

  it('provides an InfluxQL (1.x) and a Flux (2.x) data source', () => {
    const ds = yaml('grafana/provisioning/datasources/nstats.yaml') as {
      apiVersion: number;
      datasources: Array<Json & { type: string; uid: string; jsonData?: Json }>;
    };
    expect(ds.apiVersion).toBe(1);
    const influxql = ds.datasources.find((x) => x.uid === 'nstats-influxql');
    const flux = ds.datasources.find((x) => x.uid === 'nstats-flux');
    expect(influxql).toMatchObject({ type: 'influxdb', access: 'proxy' });
    expect(influxql?.jsonData?.version ?? 'InfluxQL').toBe('InfluxQL');
    expect(flux).toMatchObject({ type: 'influxdb', jsonData: { version: 'Flux' } });
  });

  it('loads both dashboard sets from the folders they are in', () => {
    const p = yaml('grafana/provisioning/dashboards/nstats.yaml') as {
      apiVersion: number;
      providers: Array<{ name: string; type: string; folder: string; options: { path: string } }>;
    };
    expect(p.apiVersion).toBe(1);
    const paths = p.providers.map((x) => x.options.path).sort();
    expect(paths).toEqual([
      '/var/lib/grafana/dashboards/nstats/flux',
      '/var/lib/grafana/dashboards/nstats/influxql',
    ]);
    const compose = yaml('docker/compose.yaml') as {
      services: Record<string, Json & { volumes?: string[] }>;
    };
    const grafana = compose.services.grafana;
    expect(grafana).toBeDefined();
    expect(grafana?.volumes).toEqual(
      expect.arrayContaining([
        '../grafana/provisioning:/etc/grafana/provisioning:ro',
        '../grafana/dashboards:/var/lib/grafana/dashboards/nstats:ro',
      ]),
    );
  });
});
