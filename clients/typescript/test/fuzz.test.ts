// Generated answers through the client's parsers: every one is data that matches the schema or a typed error.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Palisade, PalisadeError, PalisadeProtocolError, retryAfterMs } from "../src/index.js";
import { violation } from "../src/schema.js";

/** A small seeded PRNG (mulberry32), so a failure reproduces from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

const KEYS = ["name", "holder", "token", "expires_at_ms", "type", "title", "status", "code", "detail", "request_id", "errors", "allowed", "results", "jobs", "x"];

function value(r: () => number, depth = 0): unknown {
  const kind = Math.floor(r() * (depth > 3 ? 6 : 8));
  switch (kind) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return pick(r, [0, -1, 1.5, 2 ** 53, 409, 503, Number.MAX_SAFE_INTEGER, 1e308]);
    case 3:
      return pick(r, ["", "lock-held", "req_x", "\u0000", "é", "a".repeat(1000)]);
    case 4:
      return Math.floor(r() * 1e6);
    case 5:
      return "x";
    case 6:
      return Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 6); i > 0; i--) o[pick(r, KEYS)] = value(r, depth + 1);
      return o;
    }
  }
}

const VALID_LEASE = { name: "l", holder: "h", token: 7, expires_at_ms: 1 };
const VALID_PROBLEM = { type: "urn:palisade:problem:lock-held", title: "Lock conflict", status: 409, code: "lock-held", detail: "held" };

function mutate(r: () => number, base: Record<string, unknown>): unknown {
  const o: Record<string, unknown> = { ...base };
  const k = pick(r, Object.keys(o));
  if (r() < 0.5) delete o[k];
  else o[k] = value(r);
  return o;
}

function body(r: () => number, status: number): string {
  const roll = r();
  if (roll < 0.1) return Buffer.from(Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256))).toString("latin1");
  if (roll < 0.2) return JSON.stringify(status >= 400 ? VALID_PROBLEM : VALID_LEASE);
  if (roll < 0.6) return JSON.stringify(mutate(r, status >= 400 ? { ...VALID_PROBLEM, status } : VALID_LEASE));
  return JSON.stringify(value(r));
}

test("generated answers: data matching the schema, or a PalisadeError / PalisadeProtocolError", async () => {
  const seed = Number(process.env.FUZZ_SEED ?? 20261202);
  const r = rng(seed);
  let answer: () => Response = () => new Response("{}");
  const client = new Palisade({ url: "http://127.0.0.1:9", key: "k", retries: 0, fetch: async () => answer() });
  const counts = { ok: 0, problem: 0, protocol: 0 };
  for (let i = 0; i < 5000; i++) {
    const status = pick(r, [200, 200, 201, 204, 400, 404, 409, 422, 500, 503]);
    const text = body(r, status);
    const headers: Record<string, string> = { "content-type": pick(r, ["application/json", "application/problem+json", "text/html"]) };
    if (r() < 0.3) headers["retry-after"] = pick(r, ["1", "0", "-1", "abc", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999", " 5 "]);
    answer = () => new Response(status === 204 ? null : text, { status, headers });
    try {
      const lease = await client.locks.acquire("l", { holder: "h", ttlMs: 1000 });
      assert.equal(violation(lease, { $ref: "#/components/schemas/LockLeaseView" }), undefined);
      assert.equal(typeof lease.token, "number");
      counts.ok++;
    } catch (e) {
      if (e instanceof PalisadeError) {
        assert.ok(e.status >= 400 && typeof e.code === "string", `seed ${seed} case ${i}`);
        assert.ok(e.retryAfterMs === undefined || (Number.isFinite(e.retryAfterMs) && e.retryAfterMs >= 0), `seed ${seed} case ${i}`);
        counts.problem++;
      } else if (e instanceof PalisadeProtocolError) {
        counts.protocol++;
      } else {
        assert.fail(`seed ${seed} case ${i}: ${String(e)} for status ${status} body ${JSON.stringify(text).slice(0, 200)}`);
      }
    }
  }
  assert.ok(counts.ok > 0 && counts.problem > 0 && counts.protocol > 0, JSON.stringify(counts));
});

test("Retry-After: never throws; undefined or a whole, non-negative number of milliseconds", () => {
  const r = rng(7);
  for (let i = 0; i < 10_000; i++) {
    const v = Array.from({ length: Math.floor(r() * 12) }, () => String.fromCharCode(32 + Math.floor(r() * 95))).join("");
    const h = new Headers();
    try {
      h.set("retry-after", v);
    } catch {
      continue;
    }
    const ms = retryAfterMs(h);
    assert.ok(ms === undefined || (Number.isFinite(ms) && ms >= 0), `${JSON.stringify(v)} → ${ms}`);
  }
});
