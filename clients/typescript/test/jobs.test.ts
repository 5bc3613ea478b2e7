// The jobs API and the `work` loop against real Palisade: token, heartbeats, progress, failure,
// cancel, and a lease lost to the rescuer (jobs.rescue_interval = 100ms on the server under test).

import { test } from "node:test";
import assert from "node:assert/strict";
import { JobCancelledError, JobLeaseLostError, Palisade, PalisadeError, type Job } from "../src/index.js";
import { CutProxy, eventually, sleep, tenantClient, unique } from "./helpers.js";

async function stateOf(client: Palisade, id: string): Promise<Job> {
  return client.jobs.get(id);
}

test("enqueue with an Idempotency-Key answers the first job to a retry", async () => {
  const { client } = await tenantClient();
  const job = { queue: unique("q"), kind: "email.send", payload: { to: "u-1" } };
  const a = await client.jobs.enqueue(job, { idempotencyKey: "order-7" });
  const b = await client.jobs.enqueue(job, { idempotencyKey: "order-7" });
  assert.equal(a.duplicate, false);
  assert.equal(b.duplicate, true);
  assert.equal(b.job.id, a.job.id);
  await assert.rejects(
    client.jobs.enqueue({ ...job, payload: { to: "u-2" } }, { idempotencyKey: "order-7" }),
    (e: unknown) => e instanceof PalisadeError && e.code === "idempotency-key-reused",
  );
});

test("enqueueBatch answers each job in order, duplicates marked, and refuses a bad entry whole", async () => {
  const { client } = await tenantClient();
  const queue = unique("q");
  const keyed = (key: string, n: number) => ({ queue, kind: "email.send", payload: { n }, unique: { key } });
  const out = await client.jobs.enqueueBatch([keyed("a", 1), keyed("b", 2), keyed("a", 3)]);
  assert.deepEqual(out.jobs.map((e) => e.duplicate), [false, false, true]);
  const [a, b, a2] = out.jobs.map((e) => e.job);
  assert.ok(a && b && a2);
  assert.deepEqual(b.payload, { n: 2 });
  assert.equal(a2.id, a.id);
  await assert.rejects(
    client.jobs.enqueueBatch([keyed("c", 4), { ...keyed("d", 5), delay_ms: 1, run_at_ms: 1 }]),
    (e: unknown) => e instanceof PalisadeError && e.status === 400,
  );
  await assert.rejects(client.jobs.enqueueBatch([]), { name: "TypeError", message: /^jobs: must be/ });
  const again = await client.jobs.enqueueBatch([keyed("b", 9)]);
  assert.equal(again.jobs[0]?.duplicate, true);
  assert.equal((await client.jobs.get(b.id)).state, "queued");
  const leased = await client.jobs.lease({ queue, worker: "w1", count: 10, waitMs: 0 });
  assert.equal(leased.length, 2, "the refused batch enqueued nothing");
});

test("work runs a job with its token, heartbeats past the lease, reports progress, completes", async () => {
  const { client } = await tenantClient();
  const queue = unique("q");
  const { job } = await client.jobs.enqueue({ queue, kind: "report", payload: { n: 1 }, lease_ms: 1000 });
  let seen: { token: number; state: string; progress: unknown } | undefined;
  const worker = client.jobs.work({ queue, waitMs: 1000 }, async (j, ctx) => {
    assert.equal(j.id, job.id);
    assert.deepEqual(j.payload, { n: 1 });
    await ctx.progress({ percent: 50, message: "half way" });
    await sleep(2500); // 2.5 leases: only the heartbeats keep it
    const now = await stateOf(client, j.id);
    seen = { token: ctx.token, state: now.state, progress: now.progress };
    assert.equal(ctx.signal.aborted, false);
  });
  assert.ok(await eventually(async () => (await stateOf(client, job.id)).state === "completed", 15_000));
  await worker.stop();
  assert.ok(seen !== undefined && seen.token > 0);
  assert.equal(seen.state, "running", "still its attempt after 2.5 lease lengths");
  assert.deepEqual(seen.progress, { percent: 50, message: "half way" });
  assert.equal((await stateOf(client, job.id)).attempt, 1);
});

test("a handler that throws fails the attempt with its message", async () => {
  const { client } = await tenantClient();
  const queue = unique("q");
  const { job } = await client.jobs.enqueue({ queue, kind: "k", payload: {}, max_attempts: 1 });
  const worker = client.jobs.work({ queue, waitMs: 1000 }, async () => {
    throw new Error("smtp timeout");
  });
  assert.ok(await eventually(async () => (await stateOf(client, job.id)).state === "dead", 10_000));
  await worker.stop();
  assert.equal((await stateOf(client, job.id)).last_error, "smtp timeout");
});

test("a cancel aborts the handler's signal and the job ends cancelled", async () => {
  const { client } = await tenantClient();
  const queue = unique("q");
  const { job } = await client.jobs.enqueue({ queue, kind: "k", payload: {}, lease_ms: 1000 });
  let started = false;
  let reason: unknown;
  const worker = client.jobs.work({ queue, waitMs: 1000 }, async (_j, ctx) => {
    started = true;
    await new Promise<void>((_, reject) =>
      ctx.signal.addEventListener("abort", () => reject((reason = ctx.signal.reason)), { once: true }),
    );
  });
  assert.ok(await eventually(() => started, 10_000));
  const c = await client.jobs.cancel(job.id, { waitMs: 10_000 });
  assert.equal(c.stopped, true);
  await worker.stop();
  assert.equal((await stateOf(client, job.id)).state, "cancelled");
  assert.ok(reason instanceof JobCancelledError);
});

test("a lease lost to the rescuer aborts the handler; the attempt sends nothing more", async () => {
  const { key, client } = await tenantClient();
  const proxy = await CutProxy.start();
  try {
    const viaProxy = new Palisade({ url: proxy.url, key, timeoutMs: 1000, retries: 0 });
    const queue = unique("q");
    const { job } = await client.jobs.enqueue({
      queue,
      kind: "k",
      payload: {},
      lease_ms: 1000,
      backoff: { base_ms: 100, max_ms: 100, factor: 1, jitter: 0 },
    });
    let firstReason: unknown;
    let progressAfterLoss: unknown;
    const tokens: number[] = [];
    const worker = viaProxy.jobs.work({ queue, waitMs: 500 }, async (j, ctx) => {
      tokens.push(ctx.token);
      if (j.attempt > 1) return;
      proxy.down(); // heartbeats fail: the rescuer takes the job back after its lease
      assert.ok(await eventually(async () => (await stateOf(client, j.id)).attempt === 1 && (await stateOf(client, j.id)).state !== "running", 10_000));
      proxy.up();
      progressAfterLoss = await ctx.progress({ percent: 99 }).catch((e: unknown) => e);
      firstReason = ctx.signal.reason;
    });
    assert.ok(await eventually(async () => (await stateOf(client, job.id)).state === "completed", 20_000));
    await worker.stop();
    assert.ok(progressAfterLoss instanceof PalisadeError && progressAfterLoss.code === "job-lease-lost", String(progressAfterLoss));
    assert.ok(firstReason instanceof JobLeaseLostError, `the signal was aborted by the loss: ${String(firstReason)}`);
    assert.equal(firstReason.jobId, job.id);
    assert.equal(tokens.length, 2);
    assert.ok(tokens[1]! > tokens[0]!, "the retry's token is greater");
    const done = await stateOf(client, job.id);
    assert.equal(done.attempt, 2, "completed by the second attempt, not the first");
    assert.notEqual((done.progress as { percent?: number } | null)?.percent, 99, "the lost attempt's progress was refused");
  } finally {
    await proxy.close();
  }
});

test("a lease that cannot be renewed (Palisade cut off) aborts the handler by its local end", async () => {
  const { key, client } = await tenantClient();
  const proxy = await CutProxy.start();
  try {
    const viaProxy = new Palisade({ url: proxy.url, key, timeoutMs: 500, retries: 0 });
    const queue = unique("q");
    await client.jobs.enqueue({ queue, kind: "k", payload: {}, lease_ms: 1000 });
    let abortedAfter = -1;
    let reason: unknown;
    const worker = viaProxy.jobs.work({ queue, waitMs: 500 }, async (_j, ctx) => {
      const cut = Date.now();
      proxy.down();
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
      abortedAfter = Date.now() - cut;
      reason = ctx.signal.reason;
    });
    assert.ok(await eventually(() => abortedAfter >= 0, 10_000), "the handler was aborted");
    await worker.stop();
    assert.ok(reason instanceof JobLeaseLostError, String(reason));
    assert.ok(abortedAfter <= 1000 + 200, `aborted ${abortedAfter} ms after the cut, within the lease`);
  } finally {
    await proxy.close();
  }
});
