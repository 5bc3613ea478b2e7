// The framework-neutral part of the idempotency middlewares: begin, replay, complete or abandon.

import type { Palisade } from "../client.js";
import { isOutage, isProblem, PalisadeError } from "../errors.js";
import type { FailMode } from "./ratelimit.js";
import { forwardedProblem, problemReply, type Reply } from "./problem.js";
import * as args from "../args.js";
import { digest, fit } from "./fit.js";

/** Options of the idempotency middlewares; `Req` is the framework's request. */
export interface IdempotencyMiddlewareOptions<Req> {
  client: Palisade;
  /** Methods the middleware covers (default POST and PATCH). */
  methods?: string[];
  /** Answer 400 `idempotency-key-missing` to a covered request without the header (default false: run it as is). */
  required?: boolean;
  /** Who the request is for (e.g. your signed-in user's id): keys are scoped by it. Default: the API key. */
  principal?: (req: Req) => string | undefined;
  /** Whether a response is the operation's result, to store and replay (default: status below 500). Otherwise the key is abandoned. */
  store?: (status: number) => boolean;
  /** `closed` (default): answer 503 while Palisade is down; `open`: run the request without idempotency. */
  failMode?: FailMode;
  /** Told about outages and about responses that could not be stored. */
  onError?: (e: unknown) => void;
}

/** A captured response of the app. */
export interface Captured {
  status: number;
  headers: Record<string, string | number | string[] | undefined>;
  body: Buffer;
}

/** What to do with a request: run it as is, answer now, or run it and `finish` with its response. */
export type Step =
  | { kind: "pass" }
  | { kind: "reply"; reply: Reply }
  | { kind: "proceed"; finish: (res: Captured) => Promise<void> };

/** The request as the middleware sees it. */
export interface Incoming {
  method: string;
  /** Path and query. */
  url: string;
  /** The `Idempotency-Key` header, when present. */
  keyHeader: string | undefined;
  /** The raw body, or the parsed body (serialised as JSON for the fingerprint). */
  body: unknown;
}

/** Headers Palisade keeps in a stored response (docs/api.md); others are not sent at all. */
const REPLAY_HEADERS = new Set(["content-type", "content-language", "content-location", "location", "etag", "last-modified", "link"]);

/** Checks the options once, when the middleware is made. */
export function checkIdempotencyOptions<Req>(o: IdempotencyMiddlewareOptions<Req>): { methods: Set<string> } {
  args.obj("options", o);
  args.obj("options.client", o.client);
  if (o.principal !== undefined) args.fn("options.principal", o.principal);
  if (o.store !== undefined) args.fn("options.store", o.store);
  if (o.onError !== undefined) args.fn("options.onError", o.onError);
  if (o.failMode !== undefined) args.oneOf("options.failMode", o.failMode, ["open", "closed"]);
  const methods = o.methods ?? ["POST", "PATCH"];
  if (!Array.isArray(methods)) args.fail("options.methods", "an array of method names");
  return { methods: new Set(methods.map((m, i) => args.ascii(`options.methods[${i}]`, m, 1, 20).toUpperCase())) };
}

/** The body as the fingerprint sees it: bytes or text as they are, a parsed body as JSON. */
function bodyOf(body: unknown): string | Uint8Array {
  if (typeof body === "string" || body instanceof Uint8Array) return body;
  if (body === undefined || body === null) return "";
  return JSON.stringify(body) ?? "";
}

/** The route for the fingerprint: printable ASCII of at most 2048 characters (else its SHA-256). */
function route(url: string): string {
  return url.length <= 2048 && /^[\x20-\x7e]+$/.test(url) ? url : digest(url);
}

function storedHeaders(h: Captured["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, v] of Object.entries(h)) {
    const n = name.toLowerCase();
    const value = Array.isArray(v) ? v.join(", ") : v === undefined ? undefined : String(v);
    if (REPLAY_HEADERS.has(n) && value !== undefined && /^[\x20-\x7e]*$/.test(value)) out[n] = value;
  }
  return out;
}

/** Replays a stored response, marked `Idempotent-Replayed: true`. */
function replay(r: { status: number; headers: Record<string, string>; body: Buffer }): Reply {
  return { status: r.status, headers: { ...r.headers, "idempotent-replayed": "true" }, body: r.body };
}

/** Begins the request's entry, and says what to do. Errors other than outages and key problems are thrown. */
export async function idempotencyBegin<Req>(o: IdempotencyMiddlewareOptions<Req>, methods: Set<string>, req: Req, inc: Incoming): Promise<Step> {
  const method = inc.method.toUpperCase();
  if (!methods.has(method)) return { kind: "pass" };
  if (inc.keyHeader === undefined) {
    if (!o.required) return { kind: "pass" };
    const detail = "This request needs an Idempotency-Key header.";
    return { kind: "reply", reply: problemReply(400, "idempotency-key-missing", "Idempotency-Key missing", detail) };
  }
  if (inc.keyHeader.length > 1024 || !/^[\x20-\x7e]*$/.test(inc.keyHeader)) {
    const detail = "The Idempotency-Key header must be a structured-field string of printable ASCII.";
    return { kind: "reply", reply: problemReply(400, "idempotency-key-invalid", "Invalid Idempotency-Key", detail) };
  }
  const who = o.principal?.(req);
  const principal = who === undefined ? undefined : fit(String(who), 200);
  const name = { keyHeader: inc.keyHeader, ...(principal === undefined ? {} : { principal }) };
  const idem = o.client.idempotency;
  let begun;
  try {
    begun = await idem.begin({ ...name, request: { method, route: route(inc.url), body: bodyOf(inc.body) } });
  } catch (e) {
    return refusal(o, e);
  }
  if (begun.status === "replay") return { kind: "reply", reply: replay(begun.response) };
  const entry = { ...name, entryToken: begun.entryToken };
  const finish = async (res: Captured) => {
    try {
      if ((o.store ?? ((s: number) => s < 500))(res.status)) {
        await idem.complete({ ...entry, response: { status: res.status, headers: storedHeaders(res.headers), body: res.body } });
      } else {
        await idem.abandon(entry);
      }
    } catch (e) {
      o.onError?.(e);
    }
  };
  return { kind: "proceed", finish };
}

function refusal<Req>(o: IdempotencyMiddlewareOptions<Req>, e: unknown): Step {
  if (e instanceof PalisadeError && isProblem(e, "idempotency-key-in-flight", "idempotency-key-reused", "idempotency-key-empty", "idempotency-key-too-long", "idempotency-key-invalid", "idempotency-key-missing")) {
    return { kind: "reply", reply: forwardedProblem(e) };
  }
  if (!isOutage(e)) throw e;
  o.onError?.(e);
  if (o.failMode === "open") return { kind: "pass" };
  const detail = "Idempotency keys cannot be checked right now; retry shortly with the same key.";
  return { kind: "reply", reply: problemReply(503, "idempotency-unavailable", "Service Unavailable", detail, { "retry-after": "1" }) };
}
