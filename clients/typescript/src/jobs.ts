// Durable jobs: enqueue and inspect, the HTTP worker calls, and `work`, a worker loop.

import type { paths } from "./generated/openapi.js";
import type { BodyOf, OkOf, Transport } from "./transport.js";
import { isOutage } from "./errors.js";
import { attemptRun } from "./jobs/attempt.js";
import { defaultHolder } from "./locks.js";
import * as args from "./args.js";
import { pause } from "./pause.js";

/** An enqueue (see docs/jobs.md): queue, kind, payload and the optional settings. */
export type JobEnqueue = BodyOf<paths["/v1/jobs"]["post"]>;
/** A job as Palisade shows it. */
export type Job = OkOf<paths["/v1/jobs/{id}"]["get"]>;
/** The answer of an enqueue: the job, and whether it was a duplicate. */
export type Enqueued = OkOf<paths["/v1/jobs"]["post"]>;
/** The answer of a batch enqueue: one entry per job, in order. */
export type EnqueuedBatch = OkOf<paths["/v1/jobs/batch"]["post"]>;
/** One leased job: the job and its attempt's fencing token. */
export type LeasedJob = OkOf<paths["/v1/jobs/lease"]["post"]>["jobs"][number];
/** A heartbeat's answer: the lease's new end and whether a cancel was asked. */
export type Heartbeat = OkOf<paths["/v1/jobs/{id}/heartbeat"]["post"]>;
/** Progress of a running job. */
export interface JobProgress {
  percent?: number;
  message?: string;
  data?: unknown;
}

/** What a handler of `work` gets besides the job. */
export interface JobContext {
  /** The attempt's lease token (sent with every call about the attempt). */
  token: number;
  /** Aborted when the lease is lost (reason: a `JobLeaseLostError`) or a cancel is asked (a `JobCancelledError`). */
  signal: AbortSignal;
  /** Reports progress (also a heartbeat). */
  progress(p: JobProgress): Promise<void>;
  /** Saves a checkpoint a later attempt resumes from (also a heartbeat). */
  checkpoint(data: unknown): Promise<void>;
}

/** Options of `work`. */
export interface WorkOptions {
  queue: string;
  /** This worker's id (default: host, process id and a random suffix). */
  worker?: string;
  /** Jobs run at once, 1..=100 (default 1). */
  concurrency?: number;
  /** How long one lease call waits for a due job, in milliseconds (default 20000). */
  waitMs?: number;
  /** Called with errors the loop survives (an outage while leasing, a refused completion). */
  onError?: (e: unknown) => void;
}

/** A running worker loop. */
export interface JobWorker {
  /** Stops leasing, lets the running jobs finish, resolves when they have. */
  stop(): Promise<void>;
  /** Settles when the loop ends: after `stop`, or rejected on a non-transient error. */
  done: Promise<void>;
}

/** Checks an enqueue's fields before it is sent, naming them under `at`. */
function checkJob(at: string, job: JobEnqueue): void {
  args.obj(at, job);
  args.text(`${at}.queue`, job.queue);
  args.text(`${at}.kind`, job.kind);
  if (job.payload !== undefined) args.json(`${at}.payload`, job.payload);
  args.optInt(`${at}.priority`, job.priority ?? undefined, 0, 9);
  args.optInt(`${at}.max_attempts`, job.max_attempts ?? undefined, 1, 100);
  args.optInt(`${at}.delay_ms`, job.delay_ms ?? undefined, 0, 31_622_400_000);
  args.optInt(`${at}.lease_ms`, job.lease_ms ?? undefined, 1, 3_600_000);
  args.optInt(`${at}.timeout_ms`, job.timeout_ms ?? undefined, 100, 86_400_000);
  if (job.tags !== undefined && (!Array.isArray(job.tags) || job.tags.length > 20)) args.fail(`${at}.tags`, "an array of at most 20 strings");
  job.tags?.forEach((t, i) => args.text(`${at}.tags[${i}]`, t));
}

function jobId(v: unknown): string {
  return args.ascii("id", v, 1, 200);
}

function token(v: unknown): number {
  return args.int("token", v, 0, Number.MAX_SAFE_INTEGER);
}

const IDLE_RETRY_MS = 1000;

/** `/v1/jobs` for one tenant. */
export class Jobs {
  constructor(private readonly t: Transport) {}

  /** Enqueues a job; `idempotencyKey` makes a retry answer the first call's job. */
  async enqueue(job: JobEnqueue, o: { idempotencyKey?: string } = {}): Promise<Enqueued> {
    checkJob("job", job);
    const key = o.idempotencyKey === undefined ? undefined : args.ascii("idempotencyKey", o.idempotencyKey, 1, 128);
    const a = await this.t.send("post", "/v1/jobs", {
      body: job,
      headers: key === undefined ? {} : { "idempotency-key": key },
    });
    return a.data;
  }

  /**
   * Enqueues 1 to 1,000 jobs in one call, all or nothing (one transaction); one answer per job,
   * in order (`job` absent for a duplicate of another principal's job). Use `unique` keys to
   * make a retried batch answer the first one's jobs.
   */
  async enqueueBatch(jobs: JobEnqueue[]): Promise<EnqueuedBatch> {
    if (!Array.isArray(jobs) || jobs.length < 1 || jobs.length > 1000) args.fail("jobs", "an array of 1 to 1000 jobs");
    jobs.forEach((j, i) => checkJob(`jobs[${i}]`, j));
    return (await this.t.send("post", "/v1/jobs/batch", { body: { jobs } })).data;
  }

  /** One job. */
  async get(id: string): Promise<Job> {
    return (await this.t.send("get", "/v1/jobs/{id}", { params: { id: jobId(id) } })).data;
  }

  /** Cancels a job; a running one is flagged and waited for up to `waitMs`. */
  async cancel(id: string, o: { waitMs?: number } = {}) {
    const wait = args.optInt("waitMs", o.waitMs, 0, 600_000);
    const a = await this.t.send("post", "/v1/jobs/{id}/cancel", {
      params: { id: jobId(id) },
      query: { wait_ms: wait },
      extraTimeoutMs: wait ?? 30_000,
    });
    return a.data;
  }

  /** Leases up to `count` due jobs of `queue`, waiting up to `waitMs` for one. */
  async lease(o: { queue: string; worker: string; count?: number; waitMs?: number }, signal?: AbortSignal): Promise<LeasedJob[]> {
    args.obj("options", o);
    const wait = args.optInt("waitMs", o.waitMs, 0, 600_000) ?? 0;
    const body = {
      queue: args.text("queue", o.queue),
      worker: args.text("worker", o.worker),
      count: args.optInt("count", o.count, 1, 100) ?? 1,
      wait_ms: wait,
    };
    const a = await this.t.send("post", "/v1/jobs/lease", { body, signal, extraTimeoutMs: wait });
    return a.data.jobs;
  }

  /** Renews the lease; tells whether a cancel was asked. */
  async heartbeat(id: string, tok: number, signal?: AbortSignal): Promise<Heartbeat> {
    const a = await this.t.send("post", "/v1/jobs/{id}/heartbeat", { params: { id: jobId(id) }, body: { token: token(tok) }, signal });
    return a.data;
  }

  /** Records progress (and renews the lease). */
  async progress(id: string, tok: number, p: JobProgress): Promise<Heartbeat> {
    args.obj("progress", p);
    const body = {
      token: token(tok),
      ...(p.percent === undefined ? {} : { percent: args.int("progress.percent", p.percent, 0, 100) }),
      ...(p.message === undefined ? {} : { message: args.text("progress.message", p.message, 0, 1000) }),
      ...(p.data === undefined ? {} : { data: args.json("progress.data", p.data) as Record<string, unknown> }),
    };
    const a = await this.t.send("post", "/v1/jobs/{id}/progress", { params: { id: jobId(id) }, body });
    return a.data;
  }

  /** Saves a checkpoint (and renews the lease). */
  async checkpoint(id: string, tok: number, data: unknown): Promise<Heartbeat> {
    const body = { token: token(tok), checkpoint: args.json("checkpoint", data) as Record<string, unknown> };
    const a = await this.t.send("post", "/v1/jobs/{id}/checkpoint", { params: { id: jobId(id) }, body });
    return a.data;
  }

  /** The attempt succeeded. */
  async complete(id: string, tok: number): Promise<Job> {
    return (await this.t.send("post", "/v1/jobs/{id}/complete", { params: { id: jobId(id) }, body: { token: token(tok) } })).data;
  }

  /** The attempt failed: retry by backoff, at `retryAtMs`, or never (`giveUp`). */
  async fail(id: string, tok: number, o: { error?: string; retryAtMs?: number; giveUp?: boolean } = {}): Promise<Job> {
    args.obj("options", o);
    const body = {
      token: token(tok),
      ...(o.error === undefined ? {} : { error: String(o.error).slice(0, 4000) }),
      ...(o.retryAtMs === undefined ? {} : { retry_at_ms: args.int("retryAtMs", o.retryAtMs, 0, Number.MAX_SAFE_INTEGER) }),
      ...(o.giveUp === undefined ? {} : { give_up: o.giveUp === true }),
    };
    return (await this.t.send("post", "/v1/jobs/{id}/fail", { params: { id: jobId(id) }, body })).data;
  }

  /** Gives the lease back without counting the attempt. */
  async release(id: string, tok: number): Promise<Job> {
    return (await this.t.send("post", "/v1/jobs/{id}/release", { params: { id: jobId(id) }, body: { token: token(tok) } })).data;
  }

  /**
   * Runs `handler` for each job of `o.queue`: leases (long-polling), heartbeats every third of
   * the job's lease, completes when the handler resolves and fails when it throws. A lost
   * lease (`job-lease-lost`) or a cancel aborts the handler's `signal`; after a lost lease
   * nothing more is sent for the attempt.
   */
  work(o: WorkOptions, handler: (job: LeasedJob["job"], ctx: JobContext) => Promise<void>): JobWorker {
    args.obj("options", o);
    const opts = {
      queue: args.text("options.queue", o.queue),
      worker: o.worker === undefined ? defaultHolder() : args.text("options.worker", o.worker),
      concurrency: args.optInt("options.concurrency", o.concurrency, 1, 100) ?? 1,
      waitMs: args.optInt("options.waitMs", o.waitMs, 0, 600_000) ?? 20_000,
      onError: o.onError === undefined ? () => {} : args.fn("options.onError", o.onError),
    };
    args.fn("handler", handler);
    const stopping = new AbortController();
    const running = new Set<Promise<void>>();
    const loop = async () => {
      while (!stopping.signal.aborted) {
        if (running.size >= opts.concurrency) {
          await Promise.race(running);
          continue;
        }
        let leased: LeasedJob[];
        const leasedAt = Date.now();
        try {
          const count = opts.concurrency - running.size;
          leased = await this.lease({ queue: opts.queue, worker: opts.worker, count, waitMs: opts.waitMs }, stopping.signal);
        } catch (e) {
          if (stopping.signal.aborted) break;
          if (!isOutage(e)) throw e;
          opts.onError(e);
          await pause(IDLE_RETRY_MS, stopping.signal);
          continue;
        }
        for (const l of leased) {
          const p = attemptRun(this, l, leasedAt, handler, opts.onError).finally(() => running.delete(p));
          running.add(p);
        }
      }
      await Promise.all(running);
    };
    const done = loop();
    done.catch(() => {});
    return {
      done,
      stop: async () => {
        stopping.abort();
        await done.catch(() => {});
      },
    };
  }
}
