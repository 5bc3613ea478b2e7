// Values from the app's requests made to fit Palisade's limits without refusing the request.

import { createHash } from "node:crypto";

/** `sha256:<hex>` of `v`: the same input always gives the same value. */
export function digest(v: string): string {
  return `sha256:${createHash("sha256").update(v).digest("hex")}`;
}

/** `v` when it is 1..=`max` bytes without control characters, else its `digest`. */
export function fit(v: string, max: number): string {
  if (v.length > 0 && Buffer.byteLength(v) <= max && !/[\u0000-\u001f\u007f-\u009f]/.test(v)) return v;
  return digest(v);
}
