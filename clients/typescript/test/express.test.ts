// The Express middlewares in a real Express app against real Palisade (and a dead one).

import { test } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import express from "express";
import { Palisade } from "../src/index.js";
import { idempotency, rateLimit, type FailMode } from "../src/express.js";
import { deadUrl, sleep, tenantClient, unique } from "./helpers.js";

interface App {
  url: string;
  runs: () => number;
  close: () => Promise<void>;
}

async function start(client: Palisade, o: { failMode?: FailMode; idemFailMode?: FailMode; required?: boolean } = {}): Promise<App> {
  const app = express();
  app.use(express.json());
  app.use(rateLimit({ client, policy: "api", key: (req) => req.get("x-user") ?? req.ip, failMode: o.failMode }));
  app.use(idempotency({ client, principal: (req) => req.get("x-user"), failMode: o.idemFailMode, required: o.required }));
  let runs = 0;
  app.get("/ping", (_req, res) => {
    res.json({ pong: true });
  });
  app.post("/orders", async (req, res) => {
    runs++;
    await sleep(Number(req.body?.slowMs ?? 0));
    res.status(201).set("location", `/orders/${runs}`).set("set-cookie", "s=1").json({ order: runs, amount: req.body?.amount });
  });
  app.post("/flaky", (_req, res) => {
    runs++;
    res.status(503).json({ error: "downstream unavailable" });
  });
  const srv = app.listen(0, "127.0.0.1");
  await new Promise<void>((r) => srv.once("listening", () => r()));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    runs: () => runs,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

async function tenant(quota = 1000): Promise<Palisade> {
  const { client } = await tenantClient();
  await client.ratelimit.policyPut("api", { algorithm: "gcra", quota, window: "1m", key: ["principal"] });
  return client;
}

function post(app: App, path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${app.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

test("rate limit: IETF headers, then 429 problem+json with Retry-After", async () => {
  const app = await start(await tenant(2));
  try {
    for (const r of [1, 0]) {
      const res = await fetch(`${app.url}/ping`, { headers: { "x-user": "u1" } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get("ratelimit-policy") ?? "", /^"api";q=2;w=60/);
      assert.match(res.headers.get("ratelimit") ?? "", new RegExp(`^"api";r=${r};t=\\d+`));
      assert.equal(res.headers.get("retry-after"), null);
    }
    const res = await fetch(`${app.url}/ping`, { headers: { "x-user": "u1" } });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.match(res.headers.get("retry-after") ?? "", /^[1-9]\d*$/);
    assert.match(res.headers.get("ratelimit") ?? "", /^"api";r=0;/);
    const p = (await res.json()) as { code: string; status: number };
    assert.equal(p.code, "rate-limited");
    assert.equal(p.status, 429);
    assert.equal((await fetch(`${app.url}/ping`, { headers: { "x-user": "u2" } })).status, 200, "another key has its own quota");
  } finally {
    await app.close();
  }
});

test("idempotency: a retried POST does not run twice and is replayed", async () => {
  const app = await start(await tenant());
  try {
    const key = `"${unique("order")}"`;
    const first = await post(app, "/orders", { amount: 5 }, { "idempotency-key": key, "x-user": "u1" });
    assert.equal(first.status, 201);
    assert.equal(first.headers.get("idempotent-replayed"), null);
    const firstBody = await first.text();
    const retry = await post(app, "/orders", { amount: 5 }, { "idempotency-key": key, "x-user": "u1" });
    assert.equal(retry.status, 201);
    assert.equal(retry.headers.get("idempotent-replayed"), "true");
    assert.equal(retry.headers.get("location"), "/orders/1");
    assert.equal(retry.headers.get("set-cookie"), null, "set-cookie is never stored");
    assert.match(retry.headers.get("content-type") ?? "", /^application\/json/);
    assert.equal(await retry.text(), firstBody);
    assert.equal(app.runs(), 1, "the handler ran once");
    // Another user's same key is another entry.
    const other = await post(app, "/orders", { amount: 5 }, { "idempotency-key": key, "x-user": "u2" });
    assert.equal(other.headers.get("idempotent-replayed"), null);
    assert.equal(app.runs(), 2);
    // Without the header the middleware stays out of the way.
    assert.equal((await post(app, "/orders", { amount: 5 })).status, 201);
    assert.equal(app.runs(), 3);
  } finally {
    await app.close();
  }
});

test("idempotency: the key with another body is 422, a concurrent retry 409", async () => {
  const app = await start(await tenant());
  try {
    const key = unique("order");
    const slow = post(app, "/orders", { amount: 5, slowMs: 700 }, { "idempotency-key": key });
    await sleep(200);
    const concurrent = await post(app, "/orders", { amount: 5, slowMs: 700 }, { "idempotency-key": key });
    assert.equal(concurrent.status, 409);
    assert.equal(concurrent.headers.get("content-type"), "application/problem+json");
    assert.match(concurrent.headers.get("retry-after") ?? "", /^\d+$/);
    assert.equal(((await concurrent.json()) as { code: string }).code, "idempotency-key-in-flight");
    assert.equal((await slow).status, 201);
    const reused = await post(app, "/orders", { amount: 6, slowMs: 700 }, { "idempotency-key": key });
    assert.equal(reused.status, 422);
    assert.equal(((await reused.json()) as { code: string }).code, "idempotency-key-reused");
    assert.equal(app.runs(), 1);
  } finally {
    await app.close();
  }
});

test("idempotency: a 5xx is not stored (the key is abandoned); a missing key is 400 when required", async () => {
  const app = await start(await tenant(), { required: true });
  try {
    const key = unique("flaky");
    assert.equal((await post(app, "/flaky", {}, { "idempotency-key": key })).status, 503);
    const again = await post(app, "/flaky", {}, { "idempotency-key": key });
    assert.equal(again.headers.get("idempotent-replayed"), null);
    assert.equal(app.runs(), 2, "the retry ran: nothing was stored");
    const missing = await post(app, "/orders", {});
    assert.equal(missing.status, 400);
    assert.equal(((await missing.json()) as { code: string }).code, "idempotency-key-missing");
    assert.equal(app.runs(), 2);
    const malformed = await post(app, "/orders", {}, { "idempotency-key": '"a"; x=1' });
    assert.equal(malformed.status, 400);
    assert.equal(((await malformed.json()) as { code: string }).code, "idempotency-key-invalid");
  } finally {
    await app.close();
  }
});

test("request values past Palisade's limits are digested, never a 500", async () => {
  const app = await start(await tenant());
  try {
    const long = "u".repeat(1000);
    const a = await post(app, "/orders", { amount: 1 }, { "x-user": long, "idempotency-key": "long-user" });
    assert.equal(a.status, 201);
    const b = await post(app, "/orders", { amount: 1 }, { "x-user": long, "idempotency-key": "long-user" });
    assert.equal(b.headers.get("idempotent-replayed"), "true", "the digested principal is stable");
    const c = await post(app, `/orders?q=${"x".repeat(3000)}`, { amount: 1 }, { "idempotency-key": "long-url" });
    assert.equal(c.status, 201);
    assert.equal(app.runs(), 2);
  } finally {
    await app.close();
  }
});

test("Palisade down: fail-open lets requests through, fail-closed answers 503", async () => {
  const down = new Palisade({ url: await deadUrl(), key: "pal_key_x_y", timeoutMs: 2000 });
  const open = await start(down, { failMode: "open", idemFailMode: "open" });
  const closed = await start(down, { failMode: "closed" });
  try {
    assert.equal((await fetch(`${open.url}/ping`)).status, 200);
    assert.equal((await post(open, "/orders", {}, { "idempotency-key": "k1" })).status, 201);
    assert.equal(open.runs(), 1);

    const limited = await fetch(`${closed.url}/ping`);
    assert.equal(limited.status, 503);
    assert.equal(((await limited.json()) as { code: string }).code, "rate-limit-unavailable");
    assert.equal(limited.headers.get("retry-after"), "1");
    assert.equal(closed.runs(), 0);
  } finally {
    await open.close();
    await closed.close();
  }
});

test("Palisade down: the idempotency middleware fails closed by default", async () => {
  const down = new Palisade({ url: await deadUrl(), key: "pal_key_x_y", timeoutMs: 2000 });
  const app = await start(down, { failMode: "open" });
  try {
    const res = await post(app, "/orders", {}, { "idempotency-key": "k1" });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { code: string }).code, "idempotency-unavailable");
    assert.equal(app.runs(), 0, "the handler did not run unprotected");
  } finally {
    await app.close();
  }
});
