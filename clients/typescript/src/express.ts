// Express middlewares: `rateLimit` and `idempotency` over a Palisade client.

import type { NextFunction, Request, RequestHandler, Response } from "express";
import { checkOptions, rateLimitDecide, type RateLimitMiddlewareOptions } from "./middleware/ratelimit.js";
import {
  checkIdempotencyOptions,
  idempotencyBegin,
  type Captured,
  type IdempotencyMiddlewareOptions,
} from "./middleware/idempotency.js";
import type { Reply } from "./middleware/problem.js";

export type { FailMode } from "./middleware/ratelimit.js";
export type RateLimitOptions = RateLimitMiddlewareOptions<Request>;
export type IdempotencyOptions = IdempotencyMiddlewareOptions<Request>;

/** Sends `r` byte for byte (`setHeader`, not Express's `set`, which would add a charset). */
function send(res: Response, r: Reply): void {
  res.statusCode = r.status;
  for (const [name, value] of Object.entries(r.headers)) res.setHeader(name, value);
  res.end(r.body);
}

/**
 * Rate limits each request by `policy` and `key` (default: `req.ip`): sets `RateLimit` and
 * `RateLimit-Policy`, answers 429 problem+json with `Retry-After` when denied, and follows
 * `failMode` while Palisade is unreachable.
 */
export function rateLimit(options: RateLimitOptions): RequestHandler {
  checkOptions(options);
  return (req: Request, res: Response, next: NextFunction) => {
    rateLimitDecide(options, req, req.ip).then((v) => {
      if (!v.next) return send(res, v.reply);
      res.set(v.headers);
      next();
    }, next);
  };
}

function chunk(c: unknown, encoding: unknown): Buffer {
  if (Buffer.isBuffer(c)) return c;
  if (c instanceof Uint8Array) return Buffer.from(c);
  return Buffer.from(String(c), typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
}

/** Holds the app's response back until `finish` has stored it, then sends it unchanged. */
function capture(res: Response, finish: (c: Captured) => Promise<void>): void {
  const chunks: Buffer[] = [];
  const write = res.write;
  const end = res.end;
  res.write = function (c: unknown, encoding?: unknown, cb?: unknown) {
    if (c !== undefined && c !== null) chunks.push(chunk(c, encoding));
    const done = typeof encoding === "function" ? encoding : cb;
    if (typeof done === "function") process.nextTick(done as () => void);
    return true;
  } as Response["write"];
  res.end = function (c?: unknown, encoding?: unknown, cb?: unknown) {
    const done = [c, encoding, cb].find((x) => typeof x === "function") as (() => void) | undefined;
    if (c !== undefined && c !== null && typeof c !== "function") chunks.push(chunk(c, encoding));
    res.write = write;
    res.end = end;
    const body = Buffer.concat(chunks);
    finish({ status: res.statusCode, headers: res.getHeaders(), body }).finally(() => {
      res.end(body, done);
    });
    return res;
  } as Response["end"];
}

/**
 * Makes covered requests (POST and PATCH by default) carrying `Idempotency-Key` run at most
 * once: a retry gets the stored response with `Idempotent-Replayed: true`; a concurrent one
 * 409, the key with another request 422 (problem+json). Place it after the body parser (the
 * fingerprint covers method, path and query, and `req.rawBody` when set, else `req.body`).
 */
export function idempotency(options: IdempotencyOptions): RequestHandler {
  const { methods } = checkIdempotencyOptions(options);
  return (req: Request, res: Response, next: NextFunction) => {
    const raw = (req as Request & { rawBody?: unknown }).rawBody;
    const inc = { method: req.method, url: req.originalUrl, keyHeader: req.get("idempotency-key"), body: raw ?? req.body };
    idempotencyBegin(options, methods, req, inc).then((step) => {
      if (step.kind === "reply") return send(res, step.reply);
      if (step.kind === "proceed") capture(res, step.finish);
      next();
    }, next);
  };
}
