// Checks Palisade's JSON answers against the JSON Schemas of its /openapi.json (a 3.1 subset).

import { schemas } from "./generated/responses.js";

/** The part of JSON Schema that Palisade's OpenAPI document uses. */
export interface Schema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  minimum?: number;
  maximum?: number;
}

const REF = "#/components/schemas/";

function resolve(s: Schema): Schema | undefined {
  if (s.$ref === undefined) return s;
  const name = s.$ref.startsWith(REF) ? s.$ref.slice(REF.length) : undefined;
  return name === undefined ? undefined : (schemas as Record<string, Schema>)[name];
}

function typeOk(t: string, v: unknown): boolean {
  switch (t) {
    case "null":
      return v === null;
    case "boolean":
      return typeof v === "boolean";
    case "string":
      return typeof v === "string";
    case "integer":
      return typeof v === "number" && Number.isInteger(v);
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "array":
      return Array.isArray(v);
    case "object":
      return typeof v === "object" && v !== null && !Array.isArray(v);
    default:
      return true;
  }
}

/** The first way `v` breaks `schema`, as `<path>: <what>`; undefined when it conforms. */
export function violation(v: unknown, schema: Schema, path = "body", depth = 0): string | undefined {
  const s = resolve(schema);
  if (s === undefined || depth > 32) return `${path}: schema reference not understood`;
  const types = s.type === undefined ? [] : Array.isArray(s.type) ? s.type : [s.type];
  if (types.length > 0 && !types.some((t) => typeOk(t, v))) return `${path}: expected ${types.join(" or ")}`;
  if (s.enum !== undefined && !s.enum.includes(v)) return `${path}: not one of the allowed values`;
  if (typeof v === "number") {
    if (s.minimum !== undefined && v < s.minimum) return `${path}: below ${s.minimum}`;
    if (s.maximum !== undefined && v > s.maximum) return `${path}: above ${s.maximum}`;
  }
  for (const sub of s.allOf ?? []) {
    const e = violation(v, sub, path, depth + 1);
    if (e !== undefined) return e;
  }
  const alternatives = s.oneOf ?? s.anyOf;
  if (alternatives !== undefined && !alternatives.some((a) => violation(v, a, path, depth + 1) === undefined)) {
    return `${path}: matches none of the allowed shapes`;
  }
  if (Array.isArray(v) && s.items !== undefined) {
    for (let i = 0; i < v.length; i++) {
      const e = violation(v[i], s.items, `${path}[${i}]`, depth + 1);
      if (e !== undefined) return e;
    }
  }
  if (typeOk("object", v)) return objectViolation(v as Record<string, unknown>, s, path, depth);
  return undefined;
}

function objectViolation(o: Record<string, unknown>, s: Schema, path: string, depth: number): string | undefined {
  for (const name of s.required ?? []) {
    if (!(name in o)) return `${path}.${name}: missing`;
  }
  for (const [name, sub] of Object.entries(s.properties ?? {})) {
    if (o[name] === undefined) continue;
    const e = violation(o[name], sub, `${path}.${name}`, depth + 1);
    if (e !== undefined) return e;
  }
  const extra = s.additionalProperties;
  if (typeof extra === "object") {
    for (const [name, value] of Object.entries(o)) {
      if (s.properties?.[name] !== undefined) continue;
      const e = violation(value, extra, `${path}.${name}`, depth + 1);
      if (e !== undefined) return e;
    }
  }
  return undefined;
}
