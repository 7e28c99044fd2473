// Checks of Kubernetes objects against the API's own definitions, for tests: the OpenAPI schemas
// (kubernetes-models) and the field lists of @kubernetes/client-node's models (the schemas allow
// unknown fields; `kubectl apply` does not).
import * as k8s from '@kubernetes/client-node';

/** What every Kubernetes object has. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
}

/** A model of kubernetes-models: built from plain data, `validate()` throws on a schema error. */
type Model = new (data: never) => { validate(): void };

/**
 * The schema errors of one object, as kubernetes-models reports them (`data/spec/replicas must be
 * integer`); empty when it is valid. Its model is the module `kubernetes-models/<apiVersion>/<kind>`.
 */
export async function schemaErrors(object: KubeObject): Promise<string[]> {
  const specifier = `kubernetes-models/${object.apiVersion}/${object.kind}`;
  const module = (await import(/* @vite-ignore */ specifier)) as Record<string, Model | undefined>;
  const ModelClass = module[object.kind];
  if (ModelClass === undefined) return [`no model for ${object.apiVersion} ${object.kind}`];
  try {
    new ModelClass(structuredClone(object) as never).validate();
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/** A model class of @kubernetes/client-node: its fields as the API names them, with their types. */
interface ClientModel {
  getAttributeTypeMap(): { baseName: string; type: string }[];
}

function clientModel(type: string): ClientModel | undefined {
  const candidate = (k8s as unknown as Record<string, unknown>)[type];
  return typeof candidate === 'function' && 'getAttributeTypeMap' in candidate
    ? (candidate as unknown as ClientModel)
    : undefined;
}

/**
 * The paths of fields that the API type `type` (a client-node model name such as `V1Deployment`,
 * or `Array<...>` of one) does not have. Maps, quantities and IntOrString are not models and are
 * not looked into; their values are the schema check's business.
 */
function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || typeof value !== 'object') return [];
  const element = /^Array<(.+)>$/.exec(type)?.[1];
  if (element !== undefined)
    return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, element, `${path}[${i}]`)) : [];
  const model = clientModel(type);
  if (model === undefined) return [];
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([key, v]) => {
    const fieldType = fields.get(key);
    return fieldType === undefined ? [`${path}.${key}`] : unknownFields(v, fieldType, `${path}.${key}`);
  });
}

/** Unknown fields of a whole object; its client-node model is `V1Deployment` for apps/v1 Deployment. */
export function unknownFieldsOf(object: KubeObject): string[] {
  const version = object.apiVersion.split('/').at(-1) ?? '';
  const type = `${version.charAt(0).toUpperCase()}${version.slice(1)}${object.kind}`;
  if (clientModel(type) === undefined) return [`no client-node model ${type}`];
  return unknownFields(object, type, object.kind);
}
