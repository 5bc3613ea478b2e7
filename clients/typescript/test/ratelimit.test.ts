// ratelimit.check against real Palisade: decisions, IETF headers, all or nothing, reset.

import { test } from "node:test";
import assert from "node:assert/strict";
import { tenantClient } from "./helpers.js";

test("check allows up to the quota, then denies with Retry-After; reset forgets", async () => {
  const { client } = await tenantClient();
  // GCRA, not a fixed window: a fixed window's count restarts at each minute boundary, which a
  // run crossing one would see as a refill.
  await client.ratelimit.policyPut("api", { algorithm: "gcra", quota: 2, window: "1m", key: ["principal"] });
  for (const remaining of [1, 0]) {
    const d = await client.ratelimit.check({ policy: "api", key: "user-1" });
    assert.equal(d.allowed, true);
    assert.equal(d.results[0]?.remaining, remaining);
    assert.equal(d.retryAfterMs, 0);
    assert.match(d.headers["ratelimit-policy"] ?? "", /^"api";q=2;w=60/);
    assert.match(d.headers["ratelimit"] ?? "", new RegExp(`^"api";r=${remaining};t=\\d+`));
  }
  const denied = await client.ratelimit.check({ policy: "api", key: "user-1" });
  assert.equal(denied.allowed, false);
  assert.equal(denied.results[0]?.outcome, "limited");
  assert.ok(denied.retryAfterMs > 0);
  assert.match(denied.headers["retry-after"] ?? "", /^\d+$/);
  const other = await client.ratelimit.check({ policy: "api", key: "user-2" });
  assert.equal(other.allowed, true, "keys are counted apart");
  await client.ratelimit.reset("api", "user-1");
  assert.equal((await client.ratelimit.check({ policy: "api", key: "user-1" })).allowed, true);
});

test("several checks are decided all or nothing", async () => {
  const { client } = await tenantClient();
  await client.ratelimit.policyPut("small", { algorithm: "gcra", quota: 1, window: "1m", key: ["principal"] });
  await client.ratelimit.policyPut("big", { algorithm: "gcra", quota: 10, window: "1m", key: ["principal"] });
  assert.equal((await client.ratelimit.check({ policy: "small", key: "k" })).allowed, true);
  const both = await client.ratelimit.check([
    { policy: "big", key: "k" },
    { policy: "small", key: "k" },
  ]);
  assert.equal(both.allowed, false);
  assert.deepEqual(both.results.map((r) => r.allowed), [true, false]);
  const big = await client.ratelimit.check({ policy: "big", key: "k" });
  assert.equal(big.results[0]?.remaining, 9, "the denied decision consumed nothing of `big`");
});

test("a check without a key is keyed by the context", async () => {
  const { client } = await tenantClient();
  await client.ratelimit.policyPut("per-ip", { algorithm: "gcra", quota: 1, window: "1m", key: ["ip"] });
  assert.equal((await client.ratelimit.check({ policy: "per-ip" }, { ip: "192.0.2.1" })).allowed, true);
  assert.equal((await client.ratelimit.check({ policy: "per-ip" }, { ip: "192.0.2.1" })).allowed, false);
  assert.equal((await client.ratelimit.check({ policy: "per-ip" }, { ip: "192.0.2.2" })).allowed, true);
});
