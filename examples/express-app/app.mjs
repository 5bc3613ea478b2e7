// The example app: orders behind the idempotency middleware, a fenced nightly report under
// withLock, and a rate limit on every route.

import express from "express";
import { isProblem } from "@palisade/client";
import { idempotency, rateLimit } from "@palisade/client/express";

/** The rate-limit policy the app uses; `ensurePolicy` creates it for the tenant. */
export const POLICY = "example-api";

/** Creates (or replaces) the app's policy: 20 requests a minute per caller. */
export async function ensurePolicy(palisade) {
  await palisade.ratelimit.policyPut(POLICY, { algorithm: "gcra", quota: 20, window: "1m", key: ["principal"] });
}

/** The Express app over a Palisade client. */
export function createApp(palisade) {
  const app = express();
  const orders = new Map();
  // A fenced resource: it refuses writes with a token lower than the highest it has seen.
  const reportStore = { highestToken: 0, reports: [] };

  app.use(express.json());
  // Callers are told apart by a header here; a real app would use its authenticated user.
  const caller = (req) => req.get("x-user") ?? req.ip;
  app.use(rateLimit({ client: palisade, policy: POLICY, key: caller, failMode: "open" }));
  app.use(idempotency({ client: palisade, principal: (req) => req.get("x-user") }));

  app.post("/orders", (req, res) => {
    if (typeof req.body?.item !== "string") {
      return res.status(400).json({ error: "item: must be a string" });
    }
    const id = `ord_${orders.size + 1}`;
    orders.set(id, { id, item: req.body.item });
    res.status(201).location(`/orders/${id}`).json(orders.get(id));
  });

  app.get("/orders/:id", (req, res) => {
    const order = orders.get(req.params.id);
    if (order === undefined) return res.status(404).json({ error: "no such order" });
    res.json(order);
  });

  app.post("/reports/nightly", async (req, res, next) => {
    try {
      const report = await palisade.locks.withLock("nightly-report", { ttl: 10_000 }, async ({ token, signal }) => {
        await new Promise((r) => setTimeout(r, Number(req.query.ms ?? 200)));
        signal.throwIfAborted();
        if (token <= reportStore.highestToken) throw new Error("stale lock token");
        reportStore.highestToken = token;
        const r = { token, at: new Date().toISOString() };
        reportStore.reports.push(r);
        return r;
      });
      res.json(report);
    } catch (e) {
      if (isProblem(e, "lock-held")) return res.status(409).json({ error: "the nightly report is already running" });
      next(e);
    }
  });

  return app;
}
