// One attempt of the `work` loop: the handler under heartbeats, then complete or fail.

import type { Heartbeat, JobContext, Jobs, LeasedJob } from "../jobs.js";
import { isProblem, JobCancelledError, JobLeaseLostError } from "../errors.js";
import { pause } from "../pause.js";

/** The lease of one attempt: renewed by heartbeats, lost on `job-lease-lost` or at its local end. */
class AttemptLease {
  /** Aborted when the handler must stop: the lease is lost, or a cancel was asked. */
  readonly stop = new AbortController();
  lost = false;
  private deadline: number;
  private expiry: NodeJS.Timeout | undefined;

  constructor(
    private readonly job: LeasedJob["job"],
    private readonly token: number,
    leasedAt: number,
  ) {
    // The lease started after the lease call was sent: it ends no later than this on our clock.
    this.deadline = leasedAt + job.lease_ms;
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.expiry);
    this.expiry = setTimeout(() => this.lose(), Math.max(0, this.deadline - Date.now()));
  }

  lose(cause?: unknown): void {
    if (this.lost) return;
    this.lost = true;
    clearTimeout(this.expiry);
    this.stop.abort(new JobLeaseLostError(this.job.id, this.token, { cause }));
  }

  end(): void {
    clearTimeout(this.expiry);
  }

  /** Sends `call` (a heartbeat, progress or checkpoint) and applies its answer to the lease. */
  async watch(call: () => Promise<Heartbeat>): Promise<void> {
    const sent = Date.now();
    try {
      const hb = await call();
      if (!this.lost) {
        this.deadline = sent + this.job.lease_ms;
        this.arm();
      }
      if (hb.cancel_requested && !this.stop.signal.aborted) this.stop.abort(new JobCancelledError(this.job.id));
    } catch (e) {
      if (isProblem(e, "job-lease-lost")) this.lose(e);
      throw e;
    }
  }
}

/** Runs the handler for `l`: heartbeats every third of the lease; complete, fail, or nothing once lost. */
export async function attemptRun(
  jobs: Jobs,
  l: LeasedJob,
  leasedAt: number,
  handler: (job: LeasedJob["job"], ctx: JobContext) => Promise<void>,
  onError: (e: unknown) => void,
): Promise<void> {
  const { job, token } = l;
  const lease = new AttemptLease(job, token, leasedAt);
  const ended = new AbortController();
  const beats = (async () => {
    const every = Math.max(100, Math.floor(job.lease_ms / 3));
    while (!ended.signal.aborted && !lease.lost) {
      await pause(every, ended.signal);
      if (ended.signal.aborted) return;
      await lease.watch(() => jobs.heartbeat(job.id, token, ended.signal)).catch((e) => {
        if (!ended.signal.aborted) onError(e);
      });
    }
  })();
  const ctx: JobContext = {
    token,
    signal: lease.stop.signal,
    progress: (p) => lease.watch(() => jobs.progress(job.id, token, p)),
    checkpoint: (data) => lease.watch(() => jobs.checkpoint(job.id, token, data)),
  };
  let outcome: { ok: true } | { ok: false; error: unknown };
  try {
    await handler(job, ctx);
    outcome = { ok: true };
  } catch (error) {
    outcome = { ok: false, error };
  }
  ended.abort();
  lease.end();
  await beats;
  if (lease.lost) return;
  try {
    if (outcome.ok) await jobs.complete(job.id, token);
    else await jobs.fail(job.id, token, { error: outcome.error instanceof Error ? outcome.error.message : String(outcome.error) });
  } catch (e) {
    if (!isProblem(e, "job-lease-lost")) onError(e);
  }
}
