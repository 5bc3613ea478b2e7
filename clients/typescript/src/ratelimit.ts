// Rate limiting: `check` (all or nothing over up to 16 checks), `reset`, and tenant policies.

import type { paths } from "./generated/openapi.js";
import type { BodyOf, OkOf, Transport } from "./transport.js";
import { retryAfterMs } from "./transport.js";
import * as args from "./args.js";

/** One check: a policy and the key within it (default: built by Palisade from `context`). */
export interface RateLimitCheck {
  policy: string;
  key?: string;
  cost?: number;
}

/** What a policy's key parts are built from, for checks without a `key`. */
export type RateLimitContext = NonNullable<BodyOf<paths["/v1/ratelimit/check"]["post"]>["context"]>;

type PolicyBody = BodyOf<paths["/v1/ratelimit/policies/{name}"]["put"]>;
/** A policy as Palisade stores it (see docs/api.md#policies); in a PUT the path names it. */
export type RateLimitPolicy = Omit<PolicyBody, "name"> & { name?: string };

type CheckAnswer = OkOf<paths["/v1/ratelimit/check"]["post"]>;

/** A decision: allowed or not, one result per check, and the IETF headers to pass on. */
export interface RateLimitDecision extends CheckAnswer {
  /** `RateLimit`, `RateLimit-Policy` and (when denied) `Retry-After`, as Palisade sent them. */
  headers: Record<string, string>;
  /** Milliseconds to wait before a retry may succeed (0 when allowed). */
  retryAfterMs: number;
}

const HEADERS = ["ratelimit", "ratelimit-policy", "retry-after"] as const;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function policyName(name: string, v: unknown): string {
  if (typeof v !== "string" || !NAME.test(v)) args.fail(name, "1 to 64 of A-Z a-z 0-9 _ . -");
  return v;
}

function checkArg(name: string, c: unknown): RateLimitCheck {
  const o = args.obj(name, c);
  const policy = policyName(`${name}.policy`, o.policy);
  if (o.key !== undefined && (typeof o.key !== "string" || o.key === "" || Buffer.byteLength(o.key) > 512)) {
    args.fail(`${name}.key`, "a string of 1 to 512 bytes");
  }
  const cost = args.optInt(`${name}.cost`, o.cost, 0, 1_000_000_000);
  return { policy, ...(o.key === undefined ? {} : { key: o.key as string }), ...(cost === undefined ? {} : { cost }) };
}

function contextArg(c: unknown): RateLimitContext {
  const o = args.obj("context", c);
  for (const f of ["ip", "principal", "route"] as const) {
    if (o[f] !== undefined && o[f] !== null && typeof o[f] !== "string") args.fail(`context.${f}`, "a string");
  }
  if (o.headers !== undefined && o.headers !== null) {
    for (const [name, v] of Object.entries(args.obj("context.headers", o.headers))) {
      if (typeof v !== "string") args.fail(`context.headers.${name}`, "a string");
    }
  }
  return o as RateLimitContext;
}

/** `/v1/ratelimit` for one tenant. */
export class RateLimit {
  constructor(private readonly t: Transport) {}

  /**
   * Decides `checks` all or nothing: when one enforced check is denied, none consumes.
   * Resolves for allowed and denied decisions alike; throws `PalisadeError` `policy-not-found`.
   */
  async check(
    checks: RateLimitCheck | RateLimitCheck[],
    context?: RateLimitContext,
    signal?: AbortSignal,
  ): Promise<RateLimitDecision> {
    const list = Array.isArray(checks) ? checks : [checks];
    if (list.length < 1 || list.length > 16) args.fail("checks", "1 to 16 checks");
    const body = {
      checks: list.map((c, i) => checkArg(Array.isArray(checks) ? `checks[${i}]` : "checks", c)),
      ...(context === undefined ? {} : { context: contextArg(context) }),
    };
    const a = await this.t.send("post", "/v1/ratelimit/check", { body, signal });
    const headers: Record<string, string> = {};
    for (const h of HEADERS) {
      const v = a.headers.get(h);
      if (v !== null) headers[h] = v;
    }
    const wait = a.data.allowed ? 0 : (retryAfterMs(a.headers) ?? Math.max(...a.data.results.map((r) => r.retry_after_ms)));
    return { ...a.data, headers, retryAfterMs: wait };
  }

  /** Forgets the counts and block of one key. */
  async reset(policy: string, key: string): Promise<void> {
    const k = args.text("key", key, 1, 512);
    await this.t.send("post", "/v1/ratelimit/reset", { body: { policy: policyName("policy", policy), key: k } });
  }

  /** Creates or replaces the tenant's policy `name`. */
  async policyPut(name: string, policy: RateLimitPolicy) {
    const body = args.obj("policy", policy) as PolicyBody;
    const a = await this.t.send("put", "/v1/ratelimit/policies/{name}", {
      params: { name: policyName("name", name) },
      body,
    });
    return a.data;
  }

  /** The tenant's policy `name`, else the configured one. */
  async policyGet(name: string) {
    const a = await this.t.send("get", "/v1/ratelimit/policies/{name}", { params: { name: policyName("name", name) } });
    return a.data;
  }

  /** Deletes the tenant's policy `name`. */
  async policyDelete(name: string): Promise<void> {
    await this.t.send("delete", "/v1/ratelimit/policies/{name}", { params: { name: policyName("name", name) } });
  }
}
