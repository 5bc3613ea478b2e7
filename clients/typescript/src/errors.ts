// Typed errors: Palisade's problem+json answers, answers off the schema, outages, lost leases.

/** A field Palisade named in a 400 `invalid-request`, with what it expects. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** The stable `code`s of Palisade's problem+json answers (docs/api.md); others may be added. */
export type ProblemCode =
  | "invalid-request"
  | "invalid-json"
  | "invalid-path"
  | "unauthenticated"
  | "forbidden"
  | "not-found"
  | "route-not-found"
  | "method-not-allowed"
  | "payload-too-large"
  | "unsupported-media-type"
  | "internal"
  | "store-unavailable"
  | "timeout"
  | "lock-held"
  | "lock-not-holder"
  | "lock-expired"
  | "policy-not-found"
  | "policy-limit-reached"
  | "override-limit-reached"
  | "idempotency-key-missing"
  | "idempotency-key-empty"
  | "idempotency-key-too-long"
  | "idempotency-key-invalid"
  | "idempotency-key-in-flight"
  | "idempotency-key-reused"
  | "idempotency-entry-not-found"
  | "idempotency-entry-superseded"
  | "idempotency-entry-completed"
  | "job-lease-lost"
  | "job-finished"
  | "job-not-dead"
  | "job-running"
  | "job-unique-conflict"
  | "quota-exceeded"
  | (string & {});

/** An RFC 9457 problem+json answer of Palisade, as received. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ProblemCode;
  detail?: string;
  errors?: FieldProblem[];
  request_id?: string;
  [member: string]: unknown;
}

/** Palisade answered with a problem+json: its `code`, `status`, `requestId` and `Retry-After`. */
export class PalisadeError extends Error {
  override readonly name = "PalisadeError";
  readonly code: ProblemCode;
  readonly status: number;
  readonly requestId: string | undefined;
  /** The `Retry-After` header in milliseconds, when the answer carried one. */
  readonly retryAfterMs: number | undefined;
  readonly problem: Problem;

  constructor(problem: Problem, requestId: string | undefined, retryAfterMs: number | undefined) {
    super(`${problem.status} ${problem.code}: ${problem.detail ?? problem.title}`);
    this.code = problem.code;
    this.status = problem.status;
    this.requestId = requestId;
    this.retryAfterMs = retryAfterMs;
    this.problem = problem;
  }

  /** The fields named by a 400 `invalid-request` (empty otherwise). */
  get errors(): FieldProblem[] {
    return this.problem.errors ?? [];
  }
}

/** Palisade's answer is not what its schema says (status, content type or body shape). */
export class PalisadeProtocolError extends Error {
  override readonly name = "PalisadeProtocolError";
  readonly status: number;
  readonly requestId: string | undefined;

  constructor(message: string, status: number, requestId: string | undefined) {
    super(message);
    this.status = status;
    this.requestId = requestId;
  }
}

/** Palisade could not be reached (connection refused or reset, DNS, the client's timeout). */
export class PalisadeUnavailableError extends Error {
  override readonly name = "PalisadeUnavailableError";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A lock's lease was lost while its callback ran (taken over, expired, or not renewable). */
export class LockLostError extends Error {
  override readonly name = "LockLostError";
  readonly lock: string;
  readonly token: number;

  constructor(lock: string, token: number, options?: { cause?: unknown }) {
    super(`the lease of lock ${JSON.stringify(lock)} (token ${token}) was lost`, options);
    this.lock = lock;
    this.token = token;
  }
}

/** A job attempt's lease was lost (`job-lease-lost`, or not renewed before it ended on this process's clock). */
export class JobLeaseLostError extends Error {
  override readonly name = "JobLeaseLostError";
  readonly jobId: string;
  readonly token: number;

  constructor(jobId: string, token: number, options?: { cause?: unknown }) {
    super(`the lease of job ${jobId} (token ${token}) was lost`, options);
    this.jobId = jobId;
    this.token = token;
  }
}

/** A cancel was asked for a running job: stop; the worker loop then fails the attempt and the job ends cancelled. */
export class JobCancelledError extends Error {
  override readonly name = "JobCancelledError";
  readonly jobId: string;

  constructor(jobId: string) {
    super(`job ${jobId} was cancelled`);
    this.jobId = jobId;
  }
}

/** Whether `e` is a Palisade problem, optionally of one of `codes`. */
export function isProblem(e: unknown, ...codes: ProblemCode[]): e is PalisadeError {
  return e instanceof PalisadeError && (codes.length === 0 || codes.includes(e.code));
}

/** Whether Palisade itself was out of service: unreachable, or a 5xx answer. */
export function isOutage(e: unknown): boolean {
  return (
    e instanceof PalisadeUnavailableError ||
    (e instanceof PalisadeError && e.status >= 500) ||
    (e instanceof PalisadeProtocolError && e.status >= 500)
  );
}
