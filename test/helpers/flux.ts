// Static syntax checks of Flux (InfluxDB 2.x) queries, for tests: the parser of InfluxData's Flux
// language server (@influxdata/flux-lsp-browser, libflux compiled to WebAssembly), run offline. It
// parses only: unknown functions, wrong argument names or types are not its business.
import { createRequire } from 'node:module';

interface Location {
  start: { line: number; column: number };
  end: { line: number; column: number };
}

interface FluxParser {
  /** The AST of `script`; syntax errors are kept in it (`errors`, Bad* nodes), never thrown. */
  parse(script: string): unknown;
}

// The package has no `main` or `exports`, and its entry imports the .wasm before the JS glue, which
// under Node's WebAssembly ES module integration runs the glue before the instance exists. Loading
// the glue first gives the order that works. It goes through Node's own require (require(esm)),
// because vitest's module runner does not honour that order for import().
const flux = createRequire(import.meta.url)(
  '@influxdata/flux-lsp-browser/flux-lsp-browser_bg.js',
) as FluxParser;

const where = (location: Location | undefined): string =>
  location === undefined ? '?' : `${location.start.line}:${location.start.column}`;

/** The syntax errors that libflux records in an AST, each as `line:column: message`. */
function astErrors(node: unknown, out: string[]): void {
  if (Array.isArray(node)) {
    for (const child of node) astErrors(child, out);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const n = node as Record<string, unknown>;
  const location = n.location as Location | undefined;
  for (const error of (n.errors as { msg: string }[] | undefined) ?? [])
    out.push(`${where(location)}: ${error.msg}`);
  if (n.type === 'BadStatement') {
    const text = typeof n.text === 'string' ? n.text : '';
    out.push(`${where(location)}: unexpected ${text === '' ? 'end of input' : JSON.stringify(text)}`);
  } else if (n.type === 'BadExpression') {
    out.push(`${where(location)}: ${String(n.text)}`);
  } else if (n.operator === '<INVALID_OP>') {
    // Two operands with no operator between them, e.g. `(r) r._value > 0` (the `=>` left out): the
    // parser builds the node without recording an error.
    out.push(`${where(location)}: missing operator`);
  }
  for (const [key, child] of Object.entries(n)) if (key !== 'location') astErrors(child, out);
}

/**
 * Text after the last thing the parser consumed, other than blanks and comments: the parser drops a
 * trailing lone `@` (an attribute without a name) without a word. Columns count UTF-8 bytes.
 */
function unparsedTail(source: string, file: { location?: Location }): string[] {
  const end = file.location?.end;
  if (end === undefined) return [];
  const lines = Buffer.from(source).toString('latin1').split('\n');
  const offset =
    lines.slice(0, end.line - 1).reduce((sum, line) => sum + line.length + 1, 0) + end.column - 1;
  const tail = Buffer.from(source).subarray(offset).toString();
  const rest = tail.replace(/\/\/[^\n]*/g, '').trim();
  return rest === '' ? [] : [`${end.line}:${end.column}: unparsed text ${JSON.stringify(rest)}`];
}

/** Orders `line:column: message` strings by position; a stable sort keeps the parser's order in a tie. */
function byPosition(a: string, b: string): number {
  const position = (s: string): number[] => (/^(\d+):(\d+)/.exec(s) ?? []).slice(1).map(Number);
  const [la = 0, ca = 0] = position(a);
  const [lb = 0, cb = 0] = position(b);
  return la - lb || ca - cb;
}

/**
 * Replaces Grafana's template-variable references to the given variables (`$name`, `${name}`,
 * `${name:format}`, `[[name]]`) by their values, as Grafana does before it sends a query. Needed where
 * a reference is not valid Flux as written, e.g. inside a regex literal (`/^${pod:regex}$/`); inside
 * a string, `"${namespace}"` is Flux interpolation and parses as it is.
 */
function substitute(source: string, variables: Record<string, string>): string {
  return source.replace(
    /\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)/g,
    (match, braced?: string, bracketed?: string, bare?: string) => {
      const name = braced ?? bracketed ?? bare ?? '';
      return Object.hasOwn(variables, name) ? (variables[name] ?? match) : match;
    },
  );
}

/**
 * The syntax errors of a Flux script, each as `line:column: message`; empty when it parses.
 * `variables` are Grafana template variables to substitute first (see `substitute`); Grafana's
 * `v.timeRangeStart`, `v.timeRangeStop`, `v.windowPeriod` are plain Flux and need nothing.
 */
export function parseFlux(source: string, variables: Record<string, string> = {}): string[] {
  const script = substitute(source, variables);
  const file = flux.parse(script) as { location?: Location };
  const errors: string[] = [];
  astErrors(file, errors);
  errors.push(...unparsedTail(script, file));
  return errors.sort(byPosition);
}
