// idempotency.run against real Palisade: once per key, replay, conflicts, abandon, resume.
// The server under test runs with idempotency.lock_timeout = 2s (scripts/check.sh).

import { test } from "node:test";
import assert from "node:assert/strict";
import { PalisadeError } from "../src/index.js";
import { eventually, sleep, tenantClient, unique } from "./helpers.js";

const charge = { method: "POST", route: "/charges", body: { amount: 100 } };

test("run executes once; a retry gets the stored response, replayed", async () => {
  const { client } = await tenantClient();
  const key = unique("k");
  let runs = 0;
  const op = async () => {
    runs++;
    return { status: 201, headers: { "content-type": "application/json", "x-secret": "dropped" }, body: '{"id":"ch_1"}' };
  };
  const first = await client.idempotency.run({ key, request: charge }, op);
  assert.equal(first.replayed, false);
  assert.equal(first.status, 201);
  const again = await client.idempotency.run({ key, request: charge }, op);
  assert.equal(runs, 1, "the operation ran once");
  assert.equal(again.replayed, true);
  assert.equal(again.status, 201);
  assert.equal(again.body.toString(), '{"id":"ch_1"}');
  assert.deepEqual(again.headers, { "content-type": "application/json" }, "only allow-listed headers are stored");
});

test("the same key with another request is 422 idempotency-key-reused", async () => {
  const { client } = await tenantClient();
  const key = unique("k");
  await client.idempotency.run({ key, request: charge }, async () => ({ status: 200 }));
  await assert.rejects(
    client.idempotency.run({ key, request: { ...charge, body: { amount: 999 } } }, async () => ({ status: 200 })),
    (e: unknown) => e instanceof PalisadeError && e.code === "idempotency-key-reused" && e.status === 422,
  );
});

test("a concurrent attempt is 409 idempotency-key-in-flight with Retry-After", async () => {
  const { client } = await tenantClient();
  const key = unique("k");
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = client.idempotency.run({ key, request: charge }, async () => {
    await gate;
    return { status: 200 };
  });
  await sleep(100);
  const e = await client.idempotency.run({ key, request: charge }, async () => ({ status: 200 })).catch((err: unknown) => err);
  release();
  await slow;
  assert.ok(e instanceof PalisadeError, String(e));
  assert.equal(e.code, "idempotency-key-in-flight");
  assert.equal(e.status, 409);
  assert.ok(e.retryAfterMs !== undefined && e.retryAfterMs > 0);
});

test("an operation that throws before a recovery point abandons: the key is free again", async () => {
  const { client } = await tenantClient();
  const key = unique("k");
  await assert.rejects(
    client.idempotency.run({ key, request: charge }, async () => {
      throw new Error("validation failed");
    }),
    /validation failed/,
  );
  let ran = false;
  const r = await client.idempotency.run({ key, request: charge }, async () => {
    ran = true;
    return { status: 201, body: "ok" };
  });
  assert.ok(ran, "the corrected retry ran at once");
  assert.equal(r.replayed, false);
});

test("after a recovery point, a failed attempt is left for a retry that resumes from it", async () => {
  const { client } = await tenantClient();
  const key = unique("k");
  await assert.rejects(
    client.idempotency.run({ key, request: charge }, async (ctx) => {
      assert.equal(ctx.attempt, 1);
      assert.equal(ctx.recoveryPoint, null);
      await ctx.saveRecoveryPoint("charge_created", { charge: "ch_9" });
      throw new Error("crashed after charging");
    }),
    /crashed after charging/,
  );
  // Still locked (not abandoned) until the lock expires (2 s on the server under test).
  await assert.rejects(client.idempotency.begin({ key, request: charge }), (e: unknown) => {
    return e instanceof PalisadeError && e.code === "idempotency-key-in-flight";
  });
  let seen: unknown;
  const ok = await eventually(async () => {
    try {
      await client.idempotency.run({ key, request: charge }, async (ctx) => {
        seen = { attempt: ctx.attempt, point: ctx.recoveryPoint };
        return { status: 201, body: "resumed" };
      });
      return true;
    } catch (e) {
      if (e instanceof PalisadeError && e.code === "idempotency-key-in-flight") return false;
      throw e;
    }
  }, 10_000);
  assert.ok(ok, "the lock expired and a retry took over");
  assert.deepEqual(seen, { attempt: 2, point: { name: "charge_created", data: { charge: "ch_9" } } });
});

test("principals scope keys: the same key for two users is two entries", async () => {
  const { client } = await tenantClient();
  const key = unique("k");
  let runs = 0;
  const op = async () => ({ status: 200, body: String(++runs) });
  await client.idempotency.run({ key, principal: "user-1", request: charge }, op);
  await client.idempotency.run({ key, principal: "user-2", request: charge }, op);
  const replay = await client.idempotency.run({ key, principal: "user-1", request: charge }, op);
  assert.equal(runs, 2);
  assert.equal(replay.body.toString(), "1");
});
