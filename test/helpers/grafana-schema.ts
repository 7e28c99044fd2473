// Checks of Grafana dashboard JSON against Grafana's own model of it, for tests: the JSON Schema of the
// classic (v0/v1) Dashboard kind in test/fixtures/grafana/dashboard.schema.json, whose README names its
// source. The schema is draft-07, hence the default Ajv class.
import { readFileSync } from 'node:fs';
import { Ajv, type AnySchema, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

const SCHEMA_ID = 'grafana-dashboard.schema.json';
const schemaUrl = new URL('../fixtures/grafana/dashboard.schema.json', import.meta.url);

// allErrors: a test wants every problem of a dashboard at once. verbose: a oneOf error then carries
// its branches (`error.schema`), which `explain` needs.
const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });
// An annotation of the published schema; Ajv's strict mode refuses keywords it does not know.
ajv.addKeyword('x-deprecation-message');
// `date-time` (snapshot and meta timestamps).
addFormats.default(ajv);
ajv.addSchema(JSON.parse(readFileSync(schemaUrl, 'utf8')) as AnySchema, SCHEMA_ID);

function compiled(ref: string): ValidateFunction {
  const validate = ajv.getSchema(`${SCHEMA_ID}${ref}`);
  if (validate === undefined) throw new Error(`dashboard schema has no ${ref}`);
  return validate;
}

const validateRoot = compiled('');
const branchValidators = new WeakMap<object, ValidateFunction>();

/** The validator of one branch of a oneOf: a `$ref` into the schema, or an inline schema. */
function branchValidator(branch: Record<string, unknown>): ValidateFunction {
  let validate = branchValidators.get(branch);
  if (validate === undefined) {
    const ref = branch.$ref;
    validate = typeof ref === 'string' && ref.startsWith('#') ? compiled(ref) : ajv.compile(branch);
    branchValidators.set(branch, validate);
  }
  return validate;
}

/** The value at a JSON pointer (Ajv's instancePath) below `root`. */
function at(root: unknown, pointer: string): unknown {
  if (pointer === '') return root;
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], root);
}

const isUnder = (path: string, base: string): boolean => path === base || path.startsWith(`${base}/`);

const depth = (e: ErrorObject): number => e.instancePath.split('/').length - 1;

/** Negative when branch errors `a` went further than `b` (see `explain`). */
function compareBranches(a: ErrorObject[], b: ErrorObject[]): number {
  const shallowest = (errors: ErrorObject[]): number => Math.min(...errors.map(depth));
  return shallowest(b) - shallowest(a) || a.length - b.length;
}

/**
 * The errors of `data` against `validate`, with each failed oneOf narrowed to its best branch. Ajv
 * reports a failed oneOf with the errors of all its branches, so a panel missing `gridPos.w` would
 * also be told it is not a row. Here the branch that got furthest stands for the whole oneOf: the one
 * whose shallowest error is deepest (a row whose nested panel is broken matches the row branch down
 * to that panel, and fails the panel branch at its own keys), then the one with the fewest errors,
 * then the first as listed. When every branch fails on the type of the value alone, the error names
 * all the types. Every oneOf of the dashboard schema is the only keyword of its subschema, so the
 * errors at and below a failed oneOf's instancePath are its branches' errors, and nothing else is
 * dropped with them.
 */
function explain(validate: ValidateFunction, data: unknown): ErrorObject[] {
  if (validate(data)) return [];
  let errors = [...(validate.errors ?? [])];
  const failedOneOfs = errors
    .filter((e) => e.keyword === 'oneOf' && Array.isArray(e.schema))
    .sort((a, b) => a.instancePath.length - b.instancePath.length);
  const done: string[] = [];
  for (const oneOf of failedOneOfs) {
    const base = oneOf.instancePath;
    if (done.some((d) => isUnder(base, d))) continue;
    done.push(base);
    const value = at(data, base);
    const candidates = (oneOf.schema as Record<string, unknown>[]).map((branch) =>
      explain(branchValidator(branch), value),
    );
    errors = errors.filter((e) => !isUnder(e.instancePath, base));
    if (candidates.some((c) => c.length === 0)) {
      // More than one branch passing is the other way to fail a oneOf: report that as Ajv says it.
      errors.push(oneOf);
    } else if (
      candidates.every((c) => c.length === 1 && c[0]?.keyword === 'type' && c[0].instancePath === '')
    ) {
      const types = candidates.map((c) => String((c[0]?.params as { type?: unknown }).type));
      errors.push({ ...oneOf, keyword: 'type', message: `must be ${types.join(' or ')}` });
    } else {
      const best = candidates.reduce((a, b) => (compareBranches(b, a) < 0 ? b : a));
      errors.push(...best.map((e) => ({ ...e, instancePath: base + e.instancePath })));
    }
  }
  return errors;
}

function describe(error: ErrorObject): string {
  const path = error.instancePath === '' ? '/' : error.instancePath;
  const params = error.params as Record<string, unknown>;
  let message = error.message ?? error.keyword;
  if (error.keyword === 'additionalProperties')
    message = `has unknown property '${String(params.additionalProperty)}'`;
  else if (error.keyword === 'enum') message += `: ${JSON.stringify(params.allowedValues)}`;
  else if (error.keyword === 'const') message = `must be ${JSON.stringify(params.allowedValue)}`;
  return `${path}: ${message}`;
}

/**
 * The schema errors of a dashboard (the JSON that Grafana exports or provisions, parsed), each as
 * `JSON pointer: message`, e.g. `/panels/0/gridPos: must have required property 'w'`; empty when it
 * is valid.
 */
export function validateDashboard(json: unknown): string[] {
  const errors = explain(validateRoot, json).sort((a, b) =>
    a.instancePath.localeCompare(b.instancePath, 'en', { numeric: true }),
  );
  return [...new Set(errors.map(describe))];
}
