// The client: one Palisade base URL and key, with one object per capability.

import { Transport, type ClientOptions } from "./transport.js";
import { RateLimit } from "./ratelimit.js";
import { Locks } from "./locks.js";
import { Idempotency } from "./idempotency.js";
import { Jobs } from "./jobs.js";
import { Tenants } from "./tenants.js";

/** A Palisade client: `ratelimit`, `locks`, `idempotency`, `jobs` (tenant key), `tenants` (operator key). */
export class Palisade {
  readonly transport: Transport;
  readonly ratelimit: RateLimit;
  readonly locks: Locks;
  readonly idempotency: Idempotency;
  readonly jobs: Jobs;
  readonly tenants: Tenants;

  constructor(options: ClientOptions) {
    this.transport = new Transport(options);
    this.ratelimit = new RateLimit(this.transport);
    this.locks = new Locks(this.transport);
    this.idempotency = new Idempotency(this.transport);
    this.jobs = new Jobs(this.transport);
    this.tenants = new Tenants(this.transport);
  }
}
