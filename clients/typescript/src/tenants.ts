// Tenants and their API keys (operator key): what a deployment script or a test needs.

import type { paths } from "./generated/openapi.js";
import type { OkOf, Transport } from "./transport.js";
import * as args from "./args.js";

/** A tenant. */
export type Tenant = OkOf<paths["/v1/tenants"]["post"]>;
/** A new API key: its `secret` is shown in this answer only. */
export type CreatedKey = OkOf<paths["/v1/tenants/{tenant_id}/keys"]["post"]>;

/** `/v1/tenants` with the operator key. */
export class Tenants {
  constructor(private readonly t: Transport) {}

  /** Creates a tenant (idempotent by `externalId`: a second call answers the same tenant). */
  async create(o: { externalId: string; name: string }): Promise<Tenant> {
    args.obj("options", o);
    const body = { external_id: args.text("externalId", o.externalId), name: args.text("name", o.name) };
    return (await this.t.send("post", "/v1/tenants", { body })).data;
  }

  /** Creates an API key of tenant `id`. */
  async keyCreate(id: string, o: { name: string }): Promise<CreatedKey> {
    args.obj("options", o);
    const body = { name: args.text("name", o.name) };
    return (await this.t.send("post", "/v1/tenants/{tenant_id}/keys", { params: { tenant_id: args.ascii("id", id, 1, 200) }, body })).data;
  }
}
