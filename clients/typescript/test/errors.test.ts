// Typed errors, the bounded 503 retry, protocol errors and argument checks, against real Palisade.

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Palisade,
  PalisadeError,
  PalisadeProtocolError,
  PalisadeUnavailableError,
} from "../src/index.js";
import { deadUrl, FaultProxy, server, tenantClient, unique } from "./helpers.js";

test("a problem answer becomes a PalisadeError with code, status, request id and field errors", async () => {
  const { client } = await tenantClient();
  const e = await client.ratelimit
    .policyPut("api", { algorithm: "gcra", quota: 0, window: "1m", key: ["principal"] })
    .then(() => undefined, (err: unknown) => err);
  assert.ok(e instanceof PalisadeError, `got ${String(e)}`);
  assert.equal(e.code, "invalid-request");
  assert.equal(e.status, 400);
  assert.match(e.requestId ?? "", /^req_/);
  assert.ok(e.errors.some((f) => f.field === "quota"), JSON.stringify(e.errors));
});

test("a wrong key is 401 unauthenticated; an unknown policy 404 policy-not-found", async () => {
  const bad = new Palisade({ url: server().url, key: "pal_key_nope_nope" });
  await assert.rejects(bad.ratelimit.check({ policy: "api", key: "k" }), (e: unknown) => {
    return e instanceof PalisadeError && e.code === "unauthenticated" && e.status === 401;
  });
  const { client } = await tenantClient();
  await assert.rejects(client.ratelimit.check({ policy: unique("missing").slice(0, 60), key: "k" }), (e: unknown) => {
    return e instanceof PalisadeError && e.code === "policy-not-found" && e.status === 404;
  });
});

test("lock-held carries Retry-After", async () => {
  const { client } = await tenantClient();
  const name = unique("held");
  await client.locks.acquire(name, { holder: "a", ttlMs: 30_000 });
  const e = await client.locks.acquire(name, { holder: "b", ttlMs: 30_000 }).catch((err: unknown) => err);
  assert.ok(e instanceof PalisadeError);
  assert.equal(e.code, "lock-held");
  assert.equal(e.status, 409);
  assert.ok(e.retryAfterMs !== undefined && e.retryAfterMs > 0 && e.retryAfterMs <= 30_000, String(e.retryAfterMs));
});

const STORE_DOWN = () => ({
  status: 503,
  headers: { "content-type": "application/problem+json", "retry-after": "1" },
  body: JSON.stringify({
    type: "urn:palisade:problem:store-unavailable",
    title: "Store unavailable",
    status: 503,
    code: "store-unavailable",
    detail: "a store is unavailable",
    request_id: "req_fault",
  }),
});

test("a 503 with Retry-After is retried, up to the bound", async () => {
  const { key } = await tenantClient();
  const proxy = await FaultProxy.start();
  try {
    let faults = 2;
    proxy.fault = () => (faults-- > 0 ? STORE_DOWN() : undefined);
    const client = new Palisade({ url: proxy.url, key, retries: 2, maxRetryDelayMs: 50 });
    const lease = await client.locks.acquire(unique("retry"), { holder: "a", ttlMs: 1000 });
    assert.ok(lease.token > 0);
    assert.equal(faults, -1, "two faults answered, then the third attempt forwarded");
    assert.equal(proxy.forwarded, 1);

    faults = 3;
    const e = await client.locks.acquire(unique("retry"), { holder: "a", ttlMs: 1000 }).catch((err: unknown) => err);
    assert.ok(e instanceof PalisadeError, String(e));
    assert.equal(e.code, "store-unavailable");
    assert.equal(e.retryAfterMs, 1000);
    assert.equal(e.requestId, "req_fault");
    assert.equal(faults, 0, "three attempts: the first and two retries");
    assert.equal(proxy.forwarded, 1, "nothing reached Palisade");
  } finally {
    await proxy.close();
  }
});

test("an answer off the schema is a PalisadeProtocolError, never undefined passed on", async () => {
  const { key } = await tenantClient();
  const proxy = await FaultProxy.start();
  try {
    const client = new Palisade({ url: proxy.url, key });
    const bodies = [
      JSON.stringify({ name: "x", holder: "a", expires_at_ms: 1 }), // no token
      JSON.stringify({ name: "x", holder: "a", token: "7", expires_at_ms: 1 }), // token a string
      "not json",
    ];
    for (const body of bodies) {
      proxy.fault = () => ({ status: 200, headers: { "content-type": "application/json" }, body });
      await assert.rejects(client.locks.acquire("x", { holder: "a", ttlMs: 1000 }), PalisadeProtocolError);
    }
    proxy.fault = () => ({ status: 418, headers: { "content-type": "text/plain" }, body: "teapot" });
    await assert.rejects(client.locks.acquire("x", { holder: "a", ttlMs: 1000 }), (e: unknown) => {
      return e instanceof PalisadeProtocolError && e.status === 418;
    });
  } finally {
    await proxy.close();
  }
});

test("an unreachable Palisade is a PalisadeUnavailableError", async () => {
  const client = new Palisade({ url: await deadUrl(), key: "pal_key_x_y" });
  await assert.rejects(client.ratelimit.check({ policy: "api", key: "k" }), PalisadeUnavailableError);
});

test("bad arguments are a TypeError naming the argument, before anything is sent", async () => {
  // A dead URL: had anything been sent, the error would be PalisadeUnavailableError.
  const client = new Palisade({ url: await deadUrl(), key: "pal_key_x_y" });
  const cases: [() => Promise<unknown>, RegExp][] = [
    [() => client.locks.withLock("", { ttl: 1000 }, async () => 1), /^name: /],
    [() => client.locks.withLock("l", { ttl: 5 }, async () => 1), /^options\.ttl: /],
    [() => client.locks.withLock("l", { ttl: 1000 }, undefined as never), /^fn: /],
    [() => client.ratelimit.check([]), /^checks: /],
    [() => client.ratelimit.check({ policy: "bad name!" }), /^checks\.policy: /],
    [() => client.ratelimit.check([{ policy: "a", key: "" }]), /^checks\[0\]\.key: /],
    [() => client.ratelimit.check({ policy: "a", cost: -1 }), /^checks\.cost: /],
    [() => client.idempotency.begin({ request: { method: "POST", route: "/x" } }), /^key: /],
    [() => client.idempotency.begin({ key: "k" }), /^request: /],
    [() => client.idempotency.begin({ key: "k\u0001", fingerprint: "f" }), /^key: /],
    [() => client.jobs.enqueue({ queue: "", kind: "k" } as never), /^job\.queue: /],
    [() => client.ratelimit.check({ policy: "a" }, { ip: 7 } as never), /^context\.ip: /],
    [() => client.jobs.enqueue({ queue: "q", kind: "k", priority: 10 }), /^job\.priority: /],
    [() => client.jobs.enqueue({ queue: "q", kind: "k", tags: [""] }), /^job\.tags\[0\]: /],
    [() => client.jobs.work({ queue: "q", concurrency: 0 }, async () => {}) as never, /^options\.concurrency: /],
  ];
  for (const [call, message] of cases) {
    await assert.rejects(async () => call(), (e: unknown) => e instanceof TypeError && message.test(e.message), String(message));
  }
  assert.throws(() => new Palisade({ url: "ftp://x", key: "k" }), /^TypeError: options\.url: /);
  assert.throws(() => new Palisade({ url: "http://x", key: "" }), /^TypeError: options\.key: /);
});
