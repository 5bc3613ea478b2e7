// Idempotency keys: begin/recovery-point/complete/abandon, and `run` that does the whole dance.

import { createHash } from "node:crypto";
import type { Transport } from "./transport.js";
import * as args from "./args.js";

/** The entry: the key (decoded, or the raw `Idempotency-Key` header value) and a principal. */
export interface EntryName {
  /** The decoded key: 1..=255 printable ASCII characters. Give this or `keyHeader`. */
  key?: string;
  /** The raw `Idempotency-Key` header value your client sent; Palisade decodes it. */
  keyHeader?: string;
  /** Who inside the tenant (e.g. your end user's id); default: the calling API key. */
  principal?: string;
}

/** The request a key is bound to: Palisade fingerprints method, route and the body's SHA-256. */
export interface IdempotentRequest {
  method: string;
  /** Path and query, e.g. `/charges?expand=customer`. */
  route: string;
  /** The body (bytes, text, or a value serialised as JSON); absent: empty. */
  body?: Uint8Array | string | unknown;
}

/** What to begin: the entry and either the request or your own fingerprint. */
export interface BeginOptions extends EntryName {
  request?: IdempotentRequest;
  /** Your own fingerprint of the request (1..=256 printable ASCII characters). */
  fingerprint?: string;
}

/** A response to store and replay. Only allow-listed headers are kept (see docs/api.md). */
export interface IdempotentResponse {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

/** A response as replayed (or as just stored by `run`). */
export interface ReplayedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** True when it came from an earlier completion. */
  replayed: boolean;
}

/** A recovery point an earlier attempt recorded. */
export interface RecoveryPoint {
  name: string;
  data: unknown;
}

/** What begin decided. */
export type BeginResult =
  | { status: "proceed"; entryToken: string; attempt: number; recoveryPoint: RecoveryPoint | null }
  | { status: "replay"; response: ReplayedResponse };

/** What the operation of `run` gets. */
export interface RunContext {
  /** 1 for a new entry; more when this retry took over an entry whose lock expired. */
  attempt: number;
  /** Where an earlier attempt got to, to resume from; null when starting afresh. */
  recoveryPoint: RecoveryPoint | null;
  /** Records a phase reached (extends the lock); a later attempt resumes from it. */
  saveRecoveryPoint(name: string, data: unknown): Promise<void>;
}

/** The SHA-256 of `body` as hex (JSON-serialised unless bytes or text). */
export function bodySha256(body: unknown): string {
  const h = createHash("sha256");
  if (body === undefined || body === null) return h.digest("hex");
  if (typeof body === "string" || body instanceof Uint8Array) h.update(body);
  else h.update(JSON.stringify(args.json("request.body", body)));
  return h.digest("hex");
}

function entryDoc(e: EntryName): { key?: string; key_header?: string; principal?: string } {
  if ((e.key === undefined) === (e.keyHeader === undefined)) args.fail("key", "given, or keyHeader (exactly one)");
  return {
    ...(e.key === undefined ? {} : { key: args.ascii("key", e.key, 1, 255) }),
    ...(e.keyHeader === undefined ? {} : { key_header: args.ascii("keyHeader", e.keyHeader, 0, 1024) }),
    ...(e.principal === undefined ? {} : { principal: args.text("principal", e.principal) }),
  };
}

function responseDoc(r: IdempotentResponse) {
  args.obj("response", r);
  const headers = Object.entries(r.headers ?? {}).map(([name, value]) => ({
    name: name.toLowerCase(),
    value: args.ascii(`response.headers.${name}`, value, 0, 8192),
  }));
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body as Uint8Array);
  if (typeof r.body !== "undefined" && typeof r.body !== "string" && !(r.body instanceof Uint8Array)) {
    args.fail("response.body", "a string or bytes");
  }
  return { status: args.int("response.status", r.status, 100, 599), headers, body_base64: body.toString("base64") };
}

function replayed(r: { status: number; headers?: { name: string; value: string }[]; body_base64?: string }, wasReplay: boolean): ReplayedResponse {
  const headers: Record<string, string> = {};
  for (const h of r.headers ?? []) headers[h.name] = h.value;
  return { status: r.status, headers, body: Buffer.from(r.body_base64 ?? "", "base64"), replayed: wasReplay };
}

/** `/v1/idempotency` for one tenant. */
export class Idempotency {
  constructor(private readonly t: Transport) {}

  /** Begins an operation: `proceed` (run it) or `replay`; 409/422 throw as `PalisadeError`. */
  async begin(o: BeginOptions): Promise<BeginResult> {
    args.obj("options", o);
    const name = entryDoc(o);
    if ((o.request === undefined) === (o.fingerprint === undefined)) {
      args.fail("request", "given, or fingerprint (exactly one)");
    }
    const body =
      o.request === undefined
        ? { ...name, fingerprint: args.ascii("fingerprint", o.fingerprint, 1, 256) }
        : { ...name, request: requestDoc(o.request) };
    const a = await this.t.send("post", "/v1/idempotency/begin", { body });
    const d = a.data;
    if (d.status === "replay") return { status: "replay", response: replayed(d.response, true) };
    return {
      status: "proceed",
      entryToken: d.entry_token,
      attempt: d.attempt,
      recoveryPoint: d.recovery_point == null ? null : { name: d.recovery_point.name, data: d.recovery_point.data },
    };
  }

  /** Records a recovery point between phases; extends the lock. */
  async recoveryPoint(e: EntryName & { entryToken: string; name: string; data: unknown }): Promise<void> {
    args.obj("options", e);
    const body = {
      ...entryDoc(e),
      entry_token: args.ascii("entryToken", e.entryToken, 1, 128),
      name: args.text("name", e.name),
      data: args.json("data", e.data) as Record<string, never>,
    };
    await this.t.send("post", "/v1/idempotency/recovery-point", { body });
  }

  /** Stores the operation's response for replay. */
  async complete(e: EntryName & { entryToken: string; response: IdempotentResponse }): Promise<void> {
    args.obj("options", e);
    const body = { ...entryDoc(e), entry_token: args.ascii("entryToken", e.entryToken, 1, 128), response: responseDoc(e.response) };
    await this.t.send("post", "/v1/idempotency/complete", { body });
  }

  /** Frees the key because the operation did not run. */
  async abandon(e: EntryName & { entryToken: string }): Promise<void> {
    args.obj("options", e);
    const body = { ...entryDoc(e), entry_token: args.ascii("entryToken", e.entryToken, 1, 128) };
    await this.t.send("post", "/v1/idempotency/abandon", { body });
  }

  /**
   * Runs `operation` at most once per key: begin → run → complete with its response, or the
   * stored response of an earlier completion (`replayed: true`). When `operation` throws
   * before recording a recovery point, the entry is abandoned (the key is free for a
   * corrected retry) and the error rethrown; after a recovery point it is left for a retry
   * to resume once its lock expires.
   */
  async run(o: BeginOptions, operation: (ctx: RunContext) => Promise<IdempotentResponse>): Promise<ReplayedResponse> {
    args.fn("operation", operation);
    const begun = await this.begin(o);
    if (begun.status === "replay") return begun.response;
    const name: EntryName = { key: o.key, keyHeader: o.keyHeader, principal: o.principal };
    const entry = { ...name, entryToken: begun.entryToken };
    let recorded = false;
    const ctx: RunContext = {
      attempt: begun.attempt,
      recoveryPoint: begun.recoveryPoint,
      saveRecoveryPoint: async (pointName, data) => {
        await this.recoveryPoint({ ...entry, name: pointName, data });
        recorded = true;
      },
    };
    let response: IdempotentResponse;
    try {
      response = await operation(ctx);
      responseDoc(response);
    } catch (e) {
      if (!recorded && begun.recoveryPoint === null) await this.abandon(entry).catch(() => {});
      throw e;
    }
    await this.complete({ ...entry, response });
    const r = responseDoc(response);
    return replayed(r, false);
  }
}

function requestDoc(r: IdempotentRequest) {
  args.obj("request", r);
  return {
    method: args.ascii("request.method", r.method, 1, 20),
    route: args.ascii("request.route", r.route, 1, 2048),
    body_sha256: bodySha256(r.body),
  };
}
