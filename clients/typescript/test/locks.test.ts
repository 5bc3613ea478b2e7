// withLock against real Palisade: token, exclusion, renewal, release on every path, lost leases.

import { test } from "node:test";
import assert from "node:assert/strict";
import { LockLostError, Palisade, PalisadeError } from "../src/index.js";
import { CutProxy, sleep, tenantClient, unique } from "./helpers.js";

test("withLock hands the fencing token over, excludes others, and releases", async () => {
  const { client } = await tenantClient();
  const name = unique("lock");
  const first = await client.locks.withLock(name, { ttl: 5000, holder: "w1" }, async ({ token, signal, lease }) => {
    assert.equal(lease.holder, "w1");
    assert.equal(lease.token, token);
    assert.equal(signal.aborted, false);
    const seen = await client.locks.inspect(name);
    assert.equal(seen?.token, token);
    await assert.rejects(
      client.locks.withLock(name, { ttl: 5000 }, async () => "never"),
      (e: unknown) => e instanceof PalisadeError && e.code === "lock-held",
    );
    return token;
  });
  assert.equal(await client.locks.inspect(name), undefined, "released after the callback");
  const second = await client.locks.withLock(name, { ttl: 5000 }, async ({ token }) => token);
  assert.ok(second > first, "a later grant has a greater token");
});

test("withLock waits for a busy lock up to `wait`", async () => {
  const { client } = await tenantClient();
  const name = unique("wait");
  const held = await client.locks.acquire(name, { holder: "other", ttlMs: 30_000 });
  setTimeout(() => void client.locks.release(name, { holder: "other", token: held.token }), 300);
  const token = await client.locks.withLock(name, { ttl: 5000, wait: 10_000 }, async ({ token }) => token);
  assert.ok(token > held.token);
});

test("withLock renews in the background while the callback outlives the TTL", async () => {
  const { client } = await tenantClient();
  const name = unique("renew");
  await client.locks.withLock(name, { ttl: 600, holder: "slow" }, async ({ signal, token }) => {
    const before = await client.locks.inspect(name);
    await sleep(2000); // more than three TTLs
    const after = await client.locks.inspect(name);
    assert.equal(signal.aborted, false);
    assert.equal(after?.holder, "slow");
    assert.equal(after?.token, token);
    assert.ok((after?.expires_at_ms ?? 0) > (before?.expires_at_ms ?? Infinity), "the lease was extended");
  });
  assert.equal(await client.locks.inspect(name), undefined);
});

test("withLock releases when the callback throws, and rethrows", async () => {
  const { client } = await tenantClient();
  const name = unique("throw");
  await assert.rejects(
    client.locks.withLock(name, { ttl: 5000 }, async () => {
      throw new Error("boom");
    }),
    /boom/,
  );
  assert.equal(await client.locks.inspect(name), undefined);
});

test("a lease taken away aborts the callback's signal and withLock rejects with LockLostError", async () => {
  const { client } = await tenantClient();
  const name = unique("lost");
  let reason: unknown;
  const e = await client.locks
    .withLock(name, { ttl: 900, holder: "victim" }, async ({ token, signal }) => {
      // Someone with the holder id and token (they are not secrets) releases the lease; another grabs it.
      await client.locks.release(name, { holder: "victim", token });
      await client.locks.acquire(name, { holder: "thief", ttlMs: 30_000 });
      await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
      reason = signal.reason;
      return "finished anyway";
    })
    .catch((err: unknown) => err);
  assert.ok(reason instanceof LockLostError, "the signal's reason is a LockLostError");
  assert.ok(e instanceof LockLostError, String(e));
  assert.equal(e.lock, name);
  assert.equal((await client.locks.inspect(name))?.holder, "thief", "the thief's lease is left alone");
});

test("a lease that cannot be renewed (Palisade cut off) aborts by its local end", async () => {
  const { key } = await tenantClient();
  const proxy = await CutProxy.start();
  try {
    const client = new Palisade({ url: proxy.url, key, timeoutMs: 2000 });
    const name = unique("cut");
    const ttl = 1000;
    let abortedAfter = -1;
    const e = await client.locks
      .withLock(name, { ttl }, async ({ signal }) => {
        const start = Date.now();
        proxy.down();
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
        abortedAfter = Date.now() - start;
      })
      .catch((err: unknown) => err);
    assert.ok(e instanceof LockLostError, String(e));
    assert.ok(abortedAfter >= 0 && abortedAfter <= ttl + 200, `aborted ${abortedAfter} ms after the cut, within the TTL`);
  } finally {
    await proxy.close();
  }
});
