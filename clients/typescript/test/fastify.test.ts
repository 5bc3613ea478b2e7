// The Fastify plugins in a real Fastify app against real Palisade (and a dead one).

import { test } from "node:test";
import assert from "node:assert/strict";
import Fastify from "fastify";
import { Palisade } from "../src/index.js";
import { idempotency, rateLimit, type FailMode } from "../src/fastify.js";
import { deadUrl, sleep, tenantClient, unique } from "./helpers.js";

async function start(client: Palisade, failMode?: FailMode) {
  const app = Fastify();
  await app.register(rateLimit({ client, policy: "api", key: (req) => String(req.headers["x-user"] ?? req.ip), failMode }));
  await app.register(idempotency({ client, failMode }));
  let runs = 0;
  app.get("/ping", async () => ({ pong: true }));
  app.post("/orders", async (req, reply) => {
    runs++;
    const body = req.body as { amount?: number; slowMs?: number };
    await sleep(body.slowMs ?? 0);
    return reply.code(201).header("location", `/orders/${runs}`).send({ order: runs, amount: body.amount });
  });
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  return { url, runs: () => runs, close: () => app.close() };
}

function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${url}/orders`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
}

test("fastify rate limit: headers, then 429 problem+json", async () => {
  const { client } = await tenantClient();
  await client.ratelimit.policyPut("api", { algorithm: "gcra", quota: 1, window: "1m", key: ["principal"] });
  const app = await start(client);
  try {
    const ok = await fetch(`${app.url}/ping`, { headers: { "x-user": "u1" } });
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get("ratelimit") ?? "", /^"api";r=0;t=\d+/);
    assert.match(ok.headers.get("ratelimit-policy") ?? "", /^"api";q=1;w=60/);
    const denied = await fetch(`${app.url}/ping`, { headers: { "x-user": "u1" } });
    assert.equal(denied.status, 429);
    assert.equal(denied.headers.get("content-type"), "application/problem+json");
    assert.match(denied.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    assert.equal(((await denied.json()) as { code: string }).code, "rate-limited");
  } finally {
    await app.close();
  }
});

test("fastify idempotency: replayed retry, 409 concurrent, 422 reused", async () => {
  const { client } = await tenantClient();
  await client.ratelimit.policyPut("api", { algorithm: "gcra", quota: 1000, window: "1m", key: ["principal"] });
  const app = await start(client);
  try {
    const key = unique("order");
    const slow = post(app.url, { amount: 5, slowMs: 700 }, { "idempotency-key": key });
    await sleep(200);
    const concurrent = await post(app.url, { amount: 5, slowMs: 700 }, { "idempotency-key": key });
    assert.equal(concurrent.status, 409);
    assert.equal(((await concurrent.json()) as { code: string }).code, "idempotency-key-in-flight");
    const first = await slow;
    assert.equal(first.status, 201);
    const firstBody = await first.text();
    const retry = await post(app.url, { amount: 5, slowMs: 700 }, { "idempotency-key": key });
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get("idempotent-replayed"), "true");
    assert.equal(retry.headers.get("location"), "/orders/1");
    assert.equal(await retry.text(), firstBody);
    const reused = await post(app.url, { amount: 6 }, { "idempotency-key": key });
    assert.equal(reused.status, 422);
    assert.equal(app.runs(), 1, "the handler ran once");
  } finally {
    await app.close();
  }
});

test("fastify with Palisade down: fail-open passes, fail-closed answers 503", async () => {
  const down = new Palisade({ url: await deadUrl(), key: "pal_key_x_y", timeoutMs: 2000 });
  const open = await start(down, "open");
  const closed = await start(down, "closed");
  try {
    assert.equal((await fetch(`${open.url}/ping`)).status, 200);
    assert.equal((await post(open.url, {}, { "idempotency-key": "k" })).status, 201);
    const refused = await post(closed.url, {}, { "idempotency-key": "k" });
    assert.equal(refused.status, 503);
    assert.equal(((await refused.json()) as { code: string }).code, "rate-limit-unavailable");
    assert.equal(closed.runs(), 0);
  } finally {
    await open.close();
    await closed.close();
  }
});
