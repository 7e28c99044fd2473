import { isIP } from 'node:net';
import type { Identity, PeerKind } from '../kube/cluster-index.js';

/**
 * The names service's look-up, version 1 (documented in the README, "Names service"):
 *
 *   POST /v1/lookup   Content-Type: application/json
 *   {"addresses": ["10.244.1.17", "fd00:10:244:1::11", "8.8.8.8"]}
 *
 *   200 {"identities": {"10.244.1.17": {"kind": "pod", "name": "checkout", "namespace": "shop",
 *        "workload": "checkout", "workloadKind": "Deployment", "pod": "checkout-7d9f8c6b5-x2x9k",
 *        "node": "node-a"}, ..., "8.8.8.8": {"kind": "external"}}}
 *   400 {"error": "..."}: not JSON, not that shape, a value that is not an IP address, too many
 *   503 {"error": "not ready: ..."}: the first list of pods, Services and nodes is not in yet
 *
 * Every address asked is answered; `kind` is `pod`, `service`, `node` or `external` (none of the
 * cluster's), the other fields are present when known.
 */
export const LOOKUP_PATH = '/v1/lookup';

/**
 * Pods by UID, for the node agent, which knows its pods by the UIDs in their cgroups:
 *
 *   POST /v1/pods   {"uids": ["2d0e5c1a-...", "<a static pod's 32-hex hash>"]}
 *   200 {"pods": {"2d0e5c1a-...": {"kind": "pod", "pod": "checkout-7d9f8c6b5-x2x9k",
 *        "namespace": "shop", "workload": "checkout", "workloadKind": "Deployment", ...},
 *        "<unknown uid>": null}}
 *   400, 413 and 503 as for /v1/lookup.
 */
export const PODS_PATH = '/v1/pods';

/** A pod UID as the kubelet writes it: with dashes, or a static pod's 32 hex digits. */
const POD_UID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;

/** The UIDs of a pods request; throws an Error saying what is wrong. */
export function parsePodsRequest(body: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error('expected a JSON body: {"uids": ["<pod uid>", ...]}');
  }
  const uids = (parsed as { uids?: unknown } | null)?.uids;
  if (!Array.isArray(uids)) throw new Error('expected {"uids": [...]}, an array of pod UIDs');
  if (uids.length > MAX_ADDRESSES)
    throw new Error(`expected at most ${MAX_ADDRESSES} UIDs in one request, got ${uids.length}`);
  for (const u of uids) {
    if (typeof u !== 'string' || !POD_UID.test(u))
      throw new Error(`expected pod UIDs, got ${JSON.stringify(u).slice(0, 80)}`);
  }
  return uids as string[];
}

/** The pods of a pods answer, checked like a look-up's; a UID the service does not know is absent. */
export function parsePodsResponse(body: unknown): Map<string, Identity> {
  const pods = (body as { pods?: unknown } | null | undefined)?.pods;
  if (!pods || typeof pods !== 'object' || Array.isArray(pods))
    throw new Error('the answer has no "pods" object');
  const known = Object.fromEntries(
    Object.entries(pods as Record<string, unknown>).filter(([, v]) => v !== null),
  );
  return parseLookupResponse({ identities: known });
}

/** Most addresses in one look-up. */
export const MAX_ADDRESSES = 10_000;

/** Largest request body read (bytes): MAX_ADDRESSES IPv6 addresses with their quotes fit. */
export const MAX_BODY_BYTES = 1 << 20;

export interface LookupResponse {
  readonly identities: Readonly<Record<string, Identity>>;
}

/** The addresses of a look-up body; throws an Error saying what is wrong. */
export function parseLookupRequest(body: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error('expected a JSON body: {"addresses": ["10.0.0.1", ...]}');
  }
  const addresses = (parsed as { addresses?: unknown } | null)?.addresses;
  if (!Array.isArray(addresses)) throw new Error('expected {"addresses": [...]}, an array of IP addresses');
  if (addresses.length > MAX_ADDRESSES)
    throw new Error(`expected at most ${MAX_ADDRESSES} addresses in one look-up, got ${addresses.length}`);
  for (const a of addresses) {
    if (typeof a !== 'string' || isIP(a) === 0)
      throw new Error(`expected IP addresses, got ${JSON.stringify(a).slice(0, 80)}`);
  }
  return addresses as string[];
}

const KINDS: ReadonlySet<string> = new Set<PeerKind>(['pod', 'service', 'node', 'external']);
const FIELDS = ['name', 'namespace', 'workload', 'workloadKind', 'pod', 'node'] as const;

/**
 * The identities of a look-up answer, checked: an answer from a service of another version, or
 * not a names service at all, is an error, not names. Fields that are not strings are left out.
 */
export function parseLookupResponse(body: unknown): Map<string, Identity> {
  const identities = (body as { identities?: unknown } | null | undefined)?.identities;
  if (!identities || typeof identities !== 'object' || Array.isArray(identities))
    throw new Error('the answer has no "identities" object');
  const out = new Map<string, Identity>();
  for (const [address, raw] of Object.entries(identities as Record<string, unknown>)) {
    const r = raw as Record<string, unknown> | null;
    if (!r || typeof r.kind !== 'string' || !KINDS.has(r.kind)) continue;
    const id: Record<string, string> = { kind: r.kind };
    for (const f of FIELDS) if (typeof r[f] === 'string' && r[f] !== '') id[f] = r[f];
    out.set(address, id as unknown as Identity);
  }
  return out;
}
