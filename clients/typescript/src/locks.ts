// Fenced locks: acquire/renew/release/inspect, and `withLock` that renews and always releases.

import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { OkOf, Transport } from "./transport.js";
import type { paths } from "./generated/openapi.js";
import { LockLostError, isProblem } from "./errors.js";
import * as args from "./args.js";
import { pause } from "./pause.js";

/** A live lease: its fencing token is greater than every earlier grant's of the lock. */
export type Lease = OkOf<paths["/v1/locks/{name}/acquire"]["post"]>;

/** Options of `withLock`. */
export interface WithLockOptions {
  /** Lease length in milliseconds (100..=3600000); renewed every third of it. */
  ttl: number;
  /** How long to wait for a busy lock, in milliseconds (default 0: try once → `lock-held`). */
  wait?: number;
  /** Your id for the holder (default: host, process id and a random suffix). */
  holder?: string;
}

/** What the callback of `withLock` gets. */
export interface LockContext {
  /** The grant's fencing token: hand it to the resource you write, which refuses lower ones. */
  token: number;
  /** Aborted (with a `LockLostError`) when the lease is lost: stop writing at once. */
  signal: AbortSignal;
  /** The lease as granted. */
  lease: Lease;
}

const TTL_MIN = 100;
const TTL_MAX = 3_600_000;

function lockName(v: unknown): string {
  return args.text("name", v, 1, 200);
}

/** A default holder id, unique to this call. */
export function defaultHolder(): string {
  return `${hostname().slice(0, 100)}:${process.pid}:${randomBytes(6).toString("hex")}`;
}

/** `/v1/locks` for one tenant. */
export class Locks {
  constructor(private readonly t: Transport) {}

  /** Acquires `name`, waiting up to `waitMs` (409 `lock-held` as a `PalisadeError` after that). */
  async acquire(name: string, o: { holder: string; ttlMs: number; waitMs?: number }, signal?: AbortSignal): Promise<Lease> {
    const wait = args.optInt("waitMs", o.waitMs, 0, 60_000) ?? 0;
    const a = await this.t.send("post", "/v1/locks/{name}/acquire", {
      params: { name: lockName(name) },
      body: { holder: args.text("holder", o.holder), ttl_ms: args.int("ttlMs", o.ttlMs, TTL_MIN, TTL_MAX), wait_ms: wait },
      extraTimeoutMs: wait,
      signal,
    });
    return a.data;
  }

  /** Extends the lease to now + `ttlMs`, keeping its token. */
  async renew(name: string, o: { holder: string; token: number; ttlMs: number }, signal?: AbortSignal): Promise<Lease> {
    const a = await this.t.send("post", "/v1/locks/{name}/renew", {
      params: { name: lockName(name) },
      body: {
        holder: args.text("holder", o.holder),
        token: args.int("token", o.token, 0, Number.MAX_SAFE_INTEGER),
        ttl_ms: args.int("ttlMs", o.ttlMs, TTL_MIN, TTL_MAX),
      },
      signal,
    });
    return a.data;
  }

  /** Ends the lease; the next grant gets a greater token. */
  async release(name: string, o: { holder: string; token: number }, signal?: AbortSignal): Promise<void> {
    await this.t.send("post", "/v1/locks/{name}/release", {
      params: { name: lockName(name) },
      body: { holder: args.text("holder", o.holder), token: args.int("token", o.token, 0, Number.MAX_SAFE_INTEGER) },
      signal,
    });
  }

  /** The live lease of `name`, or undefined when no one holds it. */
  async inspect(name: string): Promise<Lease | undefined> {
    try {
      return (await this.t.send("get", "/v1/locks/{name}", { params: { name: lockName(name) } })).data;
    } catch (e) {
      if (isProblem(e, "not-found")) return undefined;
      throw e;
    }
  }

  /**
   * Runs `fn` holding `name`: renews the lease every `ttl / 3` in the background, aborts
   * `signal` when the lease is lost (renewal refused, or not renewed before it ends on this
   * process's clock), and releases on every exit path. Resolves with `fn`'s result; rejects
   * with `fn`'s error, or with a `LockLostError` when the lease was lost before `fn` ended.
   */
  async withLock<T>(name: string, options: WithLockOptions, fn: (ctx: LockContext) => Promise<T> | T): Promise<T> {
    lockName(name);
    const o = args.obj("options", options);
    const ttl = args.int("options.ttl", o.ttl, TTL_MIN, TTL_MAX);
    const waitMs = args.optInt("options.wait", o.wait, 0, 60_000) ?? 0;
    const holder = o.holder === undefined ? defaultHolder() : args.text("options.holder", o.holder);
    args.fn("fn", fn);
    const sent = Date.now();
    const lease = await this.acquire(name, { holder, ttlMs: ttl, waitMs });
    const keeper = new LeaseKeeper(this, name, holder, lease.token, ttl, sent);
    if (Date.now() - sent > ttl / 3) {
      // A long wait: renew before starting, so the lease's end on our clock is known again.
      try {
        await keeper.renewFirst();
      } catch (e) {
        await this.release(name, { holder, token: lease.token }).catch(() => {});
        throw new LockLostError(name, lease.token, { cause: e });
      }
    }
    keeper.start();
    let result: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      result = { ok: true, value: await fn({ token: lease.token, signal: keeper.lost.signal, lease }) };
    } catch (error) {
      result = { ok: false, error };
    }
    await keeper.stop();
    if (keeper.lost.signal.aborted) {
      throw result.ok ? keeper.lost.signal.reason : new LockLostError(name, lease.token, { cause: result.error });
    }
    await this.release(name, { holder, token: lease.token }).catch(() => {
      // The lease ends by its TTL anyway; a failed release must not hide fn's outcome.
    });
    if (!result.ok) throw result.error;
    return result.value;
  }
}

/** Renews one lease in the background until stopped, and signals when it is lost. */
class LeaseKeeper {
  readonly lost = new AbortController();
  private readonly stopped = new AbortController();
  private deadline: number;
  private loop: Promise<void> = Promise.resolve();
  private expiry: NodeJS.Timeout | undefined;

  constructor(
    private readonly locks: Locks,
    private readonly name: string,
    private readonly holder: string,
    private readonly token: number,
    private readonly ttl: number,
    grantedNoEarlierThan: number,
  ) {
    // The grant happened after the request was sent: its end on our clock is no later than this.
    this.deadline = grantedNoEarlierThan + ttl;
  }

  /** Renews once before the callback starts (after a long acquire); throws when refused. */
  async renewFirst(): Promise<void> {
    const sent = Date.now();
    await this.locks.renew(this.name, { holder: this.holder, token: this.token, ttlMs: this.ttl });
    this.deadline = sent + this.ttl;
  }

  start(): void {
    this.armExpiry();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped.abort();
    clearTimeout(this.expiry);
    await this.loop;
  }

  private armExpiry(): void {
    clearTimeout(this.expiry);
    this.expiry = setTimeout(() => this.lose(), Math.max(0, this.deadline - Date.now()));
  }

  private lose(cause?: unknown): void {
    if (!this.stopped.signal.aborted && !this.lost.signal.aborted) {
      this.lost.abort(new LockLostError(this.name, this.token, { cause }));
    }
  }

  private async run(): Promise<void> {
    let delay = this.ttl / 3;
    while (!this.stopped.signal.aborted && !this.lost.signal.aborted) {
      await pause(delay, this.stopped.signal);
      if (this.stopped.signal.aborted) return;
      delay = await this.renewOnce();
    }
  }

  /** One renewal; the pause before the next (a third of the TTL, or a short retry). */
  private async renewOnce(): Promise<number> {
    const sent = Date.now();
    const left = this.deadline - sent;
    if (left <= 0) return 0;
    const signal = AbortSignal.any([this.stopped.signal, AbortSignal.timeout(left)]);
    try {
      await this.locks.renew(this.name, { holder: this.holder, token: this.token, ttlMs: this.ttl }, signal);
      this.deadline = sent + this.ttl;
      this.armExpiry();
      return this.ttl / 3;
    } catch (e) {
      if (isProblem(e) && e.status < 500) {
        this.lose(e);
        return 0;
      }
      return Math.min(this.ttl / 10, 1000);
    }
  }
}
