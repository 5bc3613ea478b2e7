// The package's entry point: the client, its capabilities' types and the typed errors.

export { Palisade } from "./client.js";
export type { ClientOptions, Answer, Call } from "./transport.js";
export { Transport, retryAfterMs } from "./transport.js";
export * from "./errors.js";
export type { RateLimitCheck, RateLimitContext, RateLimitDecision, RateLimitPolicy } from "./ratelimit.js";
export { RateLimit } from "./ratelimit.js";
export type { Lease, LockContext, WithLockOptions } from "./locks.js";
export { Locks } from "./locks.js";
export type {
  BeginOptions,
  BeginResult,
  EntryName,
  IdempotentRequest,
  IdempotentResponse,
  RecoveryPoint,
  ReplayedResponse,
  RunContext,
} from "./idempotency.js";
export { Idempotency, bodySha256 } from "./idempotency.js";
export type { Enqueued, EnqueuedBatch, Heartbeat, Job, JobContext, JobEnqueue, JobProgress, JobWorker, LeasedJob, WorkOptions } from "./jobs.js";
export { Jobs } from "./jobs.js";
export type { CreatedKey, Tenant } from "./tenants.js";
export { Tenants } from "./tenants.js";
export type { paths, components } from "./generated/openapi.js";
