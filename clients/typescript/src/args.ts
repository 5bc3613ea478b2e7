// Checks of the caller's own arguments before anything is sent: a TypeError naming the argument.

/** Throws a TypeError saying what `name` must be (never echoing the value received). */
export function fail(name: string, expected: string): never {
  throw new TypeError(`${name}: must be ${expected}`);
}

/** A string of `min..=max` characters without control characters. */
export function text(name: string, v: unknown, min = 1, max = 200): string {
  if (typeof v !== "string" || v.length < min || v.length > max || /[\u0000-\u001f\u007f]/.test(v)) {
    fail(name, `a string of ${min} to ${max} characters without control characters`);
  }
  return v;
}

/** A string of `min..=max` printable ASCII characters. */
export function ascii(name: string, v: unknown, min = 1, max = 255): string {
  if (typeof v !== "string" || v.length < min || v.length > max || !/^[\x20-\x7e]*$/.test(v)) {
    fail(name, `a string of ${min} to ${max} printable ASCII characters`);
  }
  return v;
}

/** A whole number within `min..=max`. */
export function int(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    fail(name, `a whole number from ${min} to ${max}`);
  }
  return v;
}

/** `int` when present. */
export function optInt(name: string, v: unknown, min: number, max: number): number | undefined {
  return v === undefined ? undefined : int(name, v, min, max);
}

/** `text` when present. */
export function optText(name: string, v: unknown, min = 1, max = 200): string | undefined {
  return v === undefined ? undefined : text(name, v, min, max);
}

/** A function. */
export function fn<F>(name: string, v: F): F {
  if (typeof v !== "function") fail(name, "a function");
  return v;
}

/** A plain object (not null, not an array). */
export function obj(name: string, v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(name, "an object");
  return v as Record<string, unknown>;
}

/** A value JSON can carry (serialisable, not undefined). */
export function json(name: string, v: unknown): unknown {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined;
  }
  if (s === undefined) fail(name, "a JSON-serialisable value");
  return v;
}

/** One of `allowed`. */
export function oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    fail(name, `one of ${allowed.join(", ")}`);
  }
  return v as T;
}
