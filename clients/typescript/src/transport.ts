// The thin typed fetch layer over the generated OpenAPI types: auth, JSON, problems, 503 retries.

import type { paths } from "./generated/openapi.js";
import { responses } from "./generated/responses.js";
import { PalisadeError, PalisadeProtocolError, PalisadeUnavailableError, type Problem } from "./errors.js";
import { violation, type Schema } from "./schema.js";
import * as args from "./args.js";

/** How a client reaches Palisade. */
export interface ClientOptions {
  /** Palisade's base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** A tenant API key (`pal_key_…`), or the operator key for tenant management. */
  key: string;
  /** Deadline of one HTTP exchange in milliseconds (default 30000; long polls add their wait). */
  timeoutMs?: number;
  /** How many times a 503 carrying `Retry-After` is retried (default 2; 0 disables). */
  retries?: number;
  /** The longest wait before such a retry, in milliseconds (default 5000). */
  maxRetryDelayMs?: number;
  /** The fetch implementation (default: Node's global `fetch`). */
  fetch?: typeof fetch;
}

type Method = "get" | "put" | "post" | "delete";

/** The JSON request body of operation `O`. */
export type BodyOf<O> = O extends { requestBody: { content: { "application/json": infer B } } }
  ? B
  : O extends { requestBody?: { content: { "application/json": infer B } } }
    ? B
    : never;

/** The JSON bodies of `O`'s 2xx answers. */
export type OkOf<O> = O extends { responses: infer R }
  ? {
      [S in keyof R]: S extends 200 | 201 | 202
        ? R[S] extends { content: { "application/json": infer J } }
          ? J
          : never
        : S extends 204
          ? undefined
          : never;
    }[keyof R]
  : never;

/** One call: path parameters, query, JSON body, extra headers, a signal. */
export interface Call<B> {
  params?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  body?: B;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Added to the client's timeout (a long poll's wait). */
  extraTimeoutMs?: number;
}

/** A successful answer: status, headers and the body checked against the schema. */
export interface Answer<T> {
  status: number;
  headers: Headers;
  data: T;
}

/** `Retry-After` (seconds or an HTTP date) in milliseconds. */
export function retryAfterMs(h: Headers): number | undefined {
  const v = h.get("retry-after");
  if (v === null) return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Sends typed requests to one Palisade with one key. */
export class Transport {
  readonly base: string;
  private readonly key: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly maxRetryDelayMs: number;
  private readonly fetchFn: typeof fetch;

  constructor(o: ClientOptions) {
    args.obj("options", o);
    let base: URL;
    try {
      base = new URL(args.text("options.url", o.url, 1, 2048));
    } catch {
      args.fail("options.url", "an absolute http or https URL");
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") args.fail("options.url", "an http or https URL");
    this.base = base.href.replace(/\/+$/, "");
    this.key = args.ascii("options.key", o.key, 1, 1024);
    this.timeoutMs = args.optInt("options.timeoutMs", o.timeoutMs, 1, 3_600_000) ?? 30_000;
    this.retries = args.optInt("options.retries", o.retries, 0, 10) ?? 2;
    this.maxRetryDelayMs = args.optInt("options.maxRetryDelayMs", o.maxRetryDelayMs, 0, 600_000) ?? 5_000;
    this.fetchFn = o.fetch === undefined ? fetch : args.fn("options.fetch", o.fetch);
  }

  /** `method path`, checked against the schema; a problem answer throws a `PalisadeError`. */
  async send<P extends keyof paths & string, M extends Method & keyof paths[P]>(
    method: M,
    path: P,
    call: Call<BodyOf<paths[P][M]>> = {},
  ): Promise<Answer<OkOf<paths[P][M]>>> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.exchange(method, path, call);
      const wait = retryAfterMs(res.headers);
      if (res.status === 503 && wait !== undefined && attempt < this.retries) {
        await res.body?.cancel();
        await sleep(Math.min(wait, this.maxRetryDelayMs), call.signal);
        continue;
      }
      return this.answer(method, path, res) as Promise<Answer<OkOf<paths[P][M]>>>;
    }
  }

  private url(path: string, call: Call<unknown>): string {
    const filled = path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const v = call.params?.[name];
      if (v === undefined) args.fail(name, "given");
      return encodeURIComponent(v);
    });
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return `${this.base}${filled}${qs === "" ? "" : `?${qs}`}`;
  }

  private async exchange(method: string, path: string, call: Call<unknown>): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}`, accept: "application/json" };
    if (call.body !== undefined) headers["content-type"] = "application/json";
    const timeout = AbortSignal.timeout(this.timeoutMs + (call.extraTimeoutMs ?? 0));
    const signal = call.signal === undefined ? timeout : AbortSignal.any([call.signal, timeout]);
    try {
      return await this.fetchFn(this.url(path, call), {
        method: method.toUpperCase(),
        headers: { ...headers, ...call.headers },
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal,
      });
    } catch (e) {
      if (call.signal?.aborted) throw call.signal.reason;
      const what = timeout.aborted ? "did not answer in time" : "could not be reached";
      throw new PalisadeUnavailableError(`Palisade ${what} (${method.toUpperCase()} ${path})`, { cause: e });
    }
  }

  private async answer(method: string, path: string, res: Response): Promise<Answer<unknown>> {
    const requestId = res.headers.get("x-request-id") ?? undefined;
    const protocol = (why: string) =>
      new PalisadeProtocolError(`${method.toUpperCase()} ${path}: ${why}`, res.status, requestId);
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      throw new PalisadeUnavailableError(`Palisade's answer was cut (${method.toUpperCase()} ${path})`, { cause: e });
    }
    if (res.status >= 400) throw problemError(res, text, protocol);
    const schemas = (responses as Record<string, Record<string, Schema | null>>)[`${method} ${path}`];
    const schema = schemas?.[String(res.status)];
    if (schema === undefined) throw protocol(`unexpected status ${res.status}`);
    if (schema === null) return { status: res.status, headers: res.headers, data: undefined };
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw protocol("the body is not JSON");
    }
    const bad = violation(data, schema);
    if (bad !== undefined) throw protocol(`the body does not match the schema (${bad})`);
    return { status: res.status, headers: res.headers, data };
  }
}

function problemError(res: Response, text: string, protocol: (why: string) => PalisadeProtocolError): Error {
  let p: unknown;
  try {
    p = JSON.parse(text);
  } catch {
    return protocol(`status ${res.status} without a problem+json body`);
  }
  const bad = violation(p, { $ref: "#/components/schemas/ProblemDoc" });
  const problem = p as Problem;
  if (bad !== undefined || typeof problem.code !== "string" || problem.status !== res.status) {
    return protocol(`status ${res.status} with a malformed problem body`);
  }
  const requestId = problem.request_id ?? res.headers.get("x-request-id") ?? undefined;
  return new PalisadeError(problem, requestId, retryAfterMs(res.headers));
}
