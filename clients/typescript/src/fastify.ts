// Fastify plugins: `rateLimit` and `idempotency` over a Palisade client (global to the instance).

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Readable } from "node:stream";
import { checkOptions, rateLimitDecide, type RateLimitMiddlewareOptions } from "./middleware/ratelimit.js";
import { checkIdempotencyOptions, idempotencyBegin, type Captured, type IdempotencyMiddlewareOptions } from "./middleware/idempotency.js";
import type { Reply } from "./middleware/problem.js";

export type { FailMode } from "./middleware/ratelimit.js";
export type RateLimitOptions = RateLimitMiddlewareOptions<FastifyRequest>;
export type IdempotencyOptions = IdempotencyMiddlewareOptions<FastifyRequest>;

type Plugin = ((app: FastifyInstance) => Promise<void>) & { [k: symbol]: unknown };

/** Fastify applies a plugin marked so to the instance registering it (not a child context). */
function unencapsulated(p: (app: FastifyInstance) => Promise<void>): Plugin {
  const plugin = p as Plugin;
  plugin[Symbol.for("skip-override")] = true;
  return plugin;
}

function send(reply: FastifyReply, r: Reply): FastifyReply {
  return reply.code(r.status).headers(r.headers).send(r.body);
}

/** `app.register(rateLimit({client, policy}))`: the rate limit of the Express middleware, on `onRequest`. */
export function rateLimit(options: RateLimitOptions): Plugin {
  checkOptions(options);
  return unencapsulated(async (app) => {
    app.addHook("onRequest", async (req, reply) => {
      const v = await rateLimitDecide(options, req, req.ip);
      if (!v.next) return send(reply, v.reply);
      reply.headers(v.headers);
    });
  });
}

const FINISH = Symbol("palisade.idempotency.finish");
type Marked = FastifyRequest & { [FINISH]?: (c: Captured) => Promise<void> };

async function bytes(payload: unknown): Promise<Buffer> {
  if (payload === null || payload === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(payload)) return payload;
  if (typeof payload === "string") return Buffer.from(payload);
  if (payload instanceof Readable) {
    const parts: Buffer[] = [];
    for await (const c of payload) parts.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
    return Buffer.concat(parts);
  }
  return Buffer.from(String(payload));
}

/**
 * `app.register(idempotency({client}))`: begins on `preHandler` (the body is parsed; the
 * fingerprint covers method, URL and the body as JSON), replays or refuses there, and stores
 * the response on `onSend`, before it leaves.
 */
export function idempotency(options: IdempotencyOptions): Plugin {
  const { methods } = checkIdempotencyOptions(options);
  return unencapsulated(async (app) => {
    app.addHook("preHandler", async (req, reply) => {
      const header = req.headers["idempotency-key"];
      const keyHeader = Array.isArray(header) ? header.join(", ") : header;
      const step = await idempotencyBegin(options, methods, req, { method: req.method, url: req.url, keyHeader, body: req.body });
      if (step.kind === "reply") return send(reply, step.reply);
      if (step.kind === "proceed") (req as Marked)[FINISH] = step.finish;
    });
    app.addHook("onSend", async (req, reply, payload) => {
      const finish = (req as Marked)[FINISH];
      if (finish === undefined) return payload;
      delete (req as Marked)[FINISH];
      const body = await bytes(payload);
      await finish({ status: reply.statusCode, headers: reply.getHeaders(), body });
      return body;
    });
  });
}
