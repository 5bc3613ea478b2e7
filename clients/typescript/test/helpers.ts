// Test helpers: the Palisade under test, fresh tenants, and proxies that cut or falsify the line.

import { randomBytes } from "node:crypto";
import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { Palisade, type ClientOptions } from "../src/index.js";

/** The Palisade under test (started by scripts/check.sh). */
export function server(): { url: string; operatorKey: string } {
  const url = process.env.PALISADE_TEST_URL;
  const operatorKey = process.env.PALISADE_TEST_OPERATOR_KEY;
  if (!url || !operatorKey) {
    throw new Error("PALISADE_TEST_URL and PALISADE_TEST_OPERATOR_KEY are unset: run scripts/check.sh");
  }
  return { url, operatorKey };
}

/** A unique suffix for names. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
}

/** The key of a new tenant. */
export async function tenantKey(): Promise<string> {
  const { url, operatorKey } = server();
  const op = new Palisade({ url, key: operatorKey });
  const t = await op.tenants.create({ externalId: unique("ts"), name: "TypeScript client tests" });
  return (await op.tenants.keyCreate(t.id, { name: "tests" })).secret;
}

/** A client of a new tenant (through `url` when given, e.g. a proxy). */
export async function tenantClient(o: Partial<ClientOptions> = {}): Promise<{ client: Palisade; key: string }> {
  const key = await tenantKey();
  return { client: new Palisade({ url: server().url, key, ...o }), key };
}

/** A URL nothing listens on (a port bound, then closed). */
export async function deadUrl(): Promise<string> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

/** A TCP proxy to Palisade that can drop every connection and refuse new ones (an outage). */
export class CutProxy {
  private readonly sockets = new Set<net.Socket>();
  private cut = false;
  private constructor(private readonly srv: net.Server, readonly url: string) {}

  static async start(): Promise<CutProxy> {
    const target = new URL(server().url);
    let self: CutProxy | undefined;
    const srv = net.createServer((client) => {
      if (self === undefined || self.cut) return client.destroy();
      const upstream = net.connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        self.sockets.add(s);
        s.on("close", () => self?.sockets.delete(s));
        s.on("error", () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    self = new CutProxy(srv, `http://127.0.0.1:${(srv.address() as AddressInfo).port}`);
    return self;
  }

  /** From now on: every open connection dropped, new ones reset. */
  down(): void {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  up(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    this.down();
    await new Promise<void>((r) => this.srv.close(() => r()));
  }
}

/** An HTTP proxy to Palisade whose `fault` (when set) answers instead of Palisade. */
export class FaultProxy {
  /** Answers the next request instead of forwarding it, when it returns a fault. */
  fault: (() => { status: number; headers: Record<string, string>; body: string } | undefined) | undefined;
  forwarded = 0;
  private constructor(private readonly srv: http.Server, readonly url: string) {}

  static async start(): Promise<FaultProxy> {
    const target = server().url;
    let self: FaultProxy | undefined;
    const srv = http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const f = self?.fault?.();
      if (f !== undefined) {
        res.writeHead(f.status, f.headers).end(f.body);
        return;
      }
      self!.forwarded++;
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host") headers[k] = v;
      const body = chunks.length === 0 ? undefined : Buffer.concat(chunks);
      const up = await fetch(`${target}${req.url}`, { method: req.method, headers, body });
      const out: Record<string, string> = {};
      up.headers.forEach((v, k) => {
        if (k !== "content-length" && k !== "transfer-encoding" && k !== "connection") out[k] = v;
      });
      res.writeHead(up.status, out).end(Buffer.from(await up.arrayBuffer()));
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    self = new FaultProxy(srv, `http://127.0.0.1:${(srv.address() as AddressInfo).port}`);
    return self;
  }

  async close(): Promise<void> {
    this.srv.closeAllConnections();
    await new Promise<void>((r) => this.srv.close(() => r()));
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `cond` every 50 ms until it holds or `ms` pass; says whether it held. */
export async function eventually(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(50);
  }
  return cond();
}

/** An HTTP server of `handler` on a free port, and its URL. */
export async function listen(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const srv = http.createServer(handler);
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}
