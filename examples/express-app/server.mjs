// Starts the example app: APP_PALISADE_URL, APP_PALISADE_KEY (a tenant key), PORT (default 3000).
// (Not PALISADE_*: those variables configure the palisade server itself.)

import { Palisade } from "@palisade/client";
import { createApp, ensurePolicy } from "./app.mjs";

const url = process.env.APP_PALISADE_URL ?? "http://127.0.0.1:8080";
const key = process.env.APP_PALISADE_KEY;
if (!key) {
  console.error("APP_PALISADE_KEY: set it to a tenant API key (see the main README's tour)");
  process.exit(2);
}
const palisade = new Palisade({ url, key });
await ensurePolicy(palisade);
const server = createApp(palisade).listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`example app on http://127.0.0.1:${server.address().port}`);
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
