// Starts the example app (server.mjs) against the Palisade of PALISADE_TEST_URL and uses it.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const palisadeUrl = process.env.PALISADE_TEST_URL;
const operatorKey = process.env.PALISADE_TEST_OPERATOR_KEY;
let app;
let url;

async function operator(path, body) {
  const res = await fetch(`${palisadeUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${operatorKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.ok(res.ok, `${path}: ${res.status}`);
  return res.json();
}

before(async () => {
  assert.ok(palisadeUrl && operatorKey, "PALISADE_TEST_URL and PALISADE_TEST_OPERATOR_KEY (run clients/typescript/scripts/check.sh)");
  const tenant = await operator("/v1/tenants", { external_id: `example-${randomBytes(4).toString("hex")}`, name: "Example" });
  const { secret } = await operator(`/v1/tenants/${tenant.id}/keys`, { name: "example-app" });
  app = spawn(process.execPath, [fileURLToPath(new URL("../server.mjs", import.meta.url))], {
    env: { PATH: process.env.PATH, APP_PALISADE_URL: palisadeUrl, APP_PALISADE_KEY: secret, PORT: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const [line] = await once(app.stdout, "data");
  url = String(line).match(/http:\/\/[0-9.:]+/)?.[0];
  assert.ok(url, `the app did not start: ${line}`);
});

after(async () => {
  app?.kill("SIGTERM");
  if (app && app.exitCode === null) await once(app, "exit");
});

const post = (path, body, headers = {}) =>
  fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

test("a retried order is created once and replayed", async () => {
  const key = randomBytes(8).toString("hex");
  const first = await post("/orders", { item: "book" }, { "idempotency-key": key, "x-user": "alice" });
  assert.equal(first.status, 201);
  assert.match(first.headers.get("ratelimit") ?? "", /^"example-api";r=\d+;t=\d+/);
  const order = await first.json();
  const retry = await post("/orders", { item: "book" }, { "idempotency-key": key, "x-user": "alice" });
  assert.equal(retry.status, 201);
  assert.equal(retry.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(await retry.json(), order);
  const next = await post("/orders", { item: "pen" }, { "idempotency-key": randomBytes(8).toString("hex"), "x-user": "alice" });
  assert.notEqual((await next.json()).id, order.id, "a new key is a new order");
  const reused = await post("/orders", { item: "car" }, { "idempotency-key": key, "x-user": "alice" });
  assert.equal(reused.status, 422);
});

test("the nightly report runs under the lock: one at a time, with increasing tokens", async () => {
  const [a, b] = await Promise.all([post("/reports/nightly?ms=500", {}), post("/reports/nightly?ms=500", {})]);
  assert.deepEqual([a.status, b.status].sort(), [200, 409]);
  const first = await (a.status === 200 ? a : b).json();
  const again = await (await post("/reports/nightly?ms=10", {})).json();
  assert.ok(again.token > first.token);
});

test("the rate limit answers 429 past 20 requests a minute", async () => {
  const statuses = [];
  for (let i = 0; i < 22; i++) statuses.push((await fetch(`${url}/orders/none`, { headers: { "x-user": "bob" } })).status);
  assert.deepEqual(statuses.slice(0, 20), Array(20).fill(404));
  assert.equal(statuses[21], 429);
});
