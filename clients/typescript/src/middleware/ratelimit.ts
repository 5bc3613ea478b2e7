// The framework-neutral part of the rate-limit middlewares: decide, and the answer to give.

import type { Palisade } from "../client.js";
import type { RateLimitContext } from "../ratelimit.js";
import { isOutage } from "../errors.js";
import { problemReply, type Reply } from "./problem.js";
import * as args from "../args.js";
import { fit } from "./fit.js";

/** What to do when Palisade cannot be reached (or answers 5xx). */
export type FailMode = "open" | "closed";

/** Options of the rate-limit middlewares; `Req` is the framework's request. */
export interface RateLimitMiddlewareOptions<Req> {
  client: Palisade;
  /** The policy to check (a name, or chosen per request). */
  policy: string | ((req: Req) => string);
  /** The key within the policy (default: the client's IP address). */
  key?: (req: Req) => string | undefined;
  /** Units the request costs (default: the policy's). */
  cost?: number | ((req: Req) => number | undefined);
  /** Values for a policy's key parts, for policies keyed by `ip`, `principal`, `route`, headers. */
  context?: (req: Req) => RateLimitContext | undefined;
  /** `open` (default): let requests through while Palisade is down; `closed`: answer 503. */
  failMode?: FailMode;
  /** Told about every Palisade outage the middleware decided around. */
  onError?: (e: unknown) => void;
}

/** The middleware's verdict: go on (with headers to add), or answer now. */
export type Verdict = { next: true; headers: Record<string, string> } | { next: false; reply: Reply };

const HEADER_NAMES: Record<string, string> = {
  ratelimit: "RateLimit",
  "ratelimit-policy": "RateLimit-Policy",
  "retry-after": "Retry-After",
};

/** Checks the options once, when the middleware is made. */
export function checkOptions<Req>(o: RateLimitMiddlewareOptions<Req>): Required<Pick<RateLimitMiddlewareOptions<Req>, "failMode">> {
  args.obj("options", o);
  args.obj("options.client", o.client);
  if (typeof o.policy !== "string" && typeof o.policy !== "function") args.fail("options.policy", "a policy name or a function");
  if (o.key !== undefined) args.fn("options.key", o.key);
  if (o.context !== undefined) args.fn("options.context", o.context);
  if (o.onError !== undefined) args.fn("options.onError", o.onError);
  return { failMode: o.failMode === undefined ? "open" : args.oneOf("options.failMode", o.failMode, ["open", "closed"]) };
}

/** Decides one request; a Palisade error other than an outage is thrown (a configuration error). */
export async function rateLimitDecide<Req>(o: RateLimitMiddlewareOptions<Req>, req: Req, ip: string | undefined): Promise<Verdict> {
  const policy = typeof o.policy === "function" ? o.policy(req) : o.policy;
  const raw = o.key === undefined ? (o.context === undefined ? ip : undefined) : o.key(req);
  const key = raw === undefined || raw === "" ? undefined : fit(String(raw), 512);
  const cost = typeof o.cost === "function" ? o.cost(req) : o.cost;
  const context = o.context?.(req);
  try {
    const d = await o.client.ratelimit.check(
      { policy, ...(key === undefined ? {} : { key }), ...(cost === undefined ? {} : { cost }) },
      context,
    );
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(d.headers)) headers[HEADER_NAMES[k] ?? k] = v;
    if (d.allowed) {
      delete headers["Retry-After"];
      return { next: true, headers };
    }
    const secs = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
    headers["Retry-After"] ??= String(secs);
    const detail = `Too many requests; retry after ${headers["Retry-After"]} seconds.`;
    return { next: false, reply: problemReply(429, "rate-limited", "Too Many Requests", detail, headers) };
  } catch (e) {
    if (!isOutage(e)) throw e;
    o.onError?.(e);
    if ((o.failMode ?? "open") === "open") return { next: true, headers: {} };
    const detail = "The rate limiter is unavailable; retry shortly.";
    return { next: false, reply: problemReply(503, "rate-limit-unavailable", "Service Unavailable", detail, { "Retry-After": "1" }) };
  }
}
