// The problem+json answers the middlewares give the app's own clients.

import type { PalisadeError } from "../errors.js";

/** An answer a middleware sends instead of running the route. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** An RFC 9457 problem+json reply with a stable `code`. */
export function problemReply(status: number, code: string, title: string, detail: string, headers: Record<string, string> = {}): Reply {
  const body = { type: `urn:palisade:problem:${code}`, title, status, code, detail };
  return {
    status,
    headers: { ...headers, "content-type": "application/problem+json" },
    body: Buffer.from(JSON.stringify(body)),
  };
}

/** Palisade's problem passed on to the app's client (without Palisade's request id). */
export function forwardedProblem(e: PalisadeError): Reply {
  const headers: Record<string, string> = {};
  if (e.retryAfterMs !== undefined) headers["retry-after"] = String(Math.ceil(e.retryAfterMs / 1000));
  return problemReply(e.status, e.code, e.problem.title, e.problem.detail ?? e.problem.title, headers);
}
