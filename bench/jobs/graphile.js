// graphile-worker: bulk-enqueue N trivial jobs (addJobs), then drain them with concurrency C;
// prints drain jobs/s and enqueue-to-start latency (run_at to start) p50/p99.
// usage: node graphile.js <postgres-url> [N=20000] [C=24]
const { run, makeWorkerUtils } = require("graphile-worker");
const [url, N = "20000", C = "24"] = process.argv.slice(2);
const n = Number(N), c = Number(C);
(async () => {
  const utils = await makeWorkerUtils({ connectionString: url });
  await utils.migrate();
  const t0 = Date.now();
  for (let i = 0; i < n; i += 1000) {
    const specs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) specs.push({ identifier: "noop", payload: {} });
    await utils.addJobs(specs);
  }
  const enq = (Date.now() - t0) / 1000;
  const lat = [];
  let done;
  const finished = new Promise((r) => (done = r));
  const t1 = Date.now();
  const runner = await run({
    connectionString: url,
    concurrency: c,
    noHandleSignals: true,
    pollInterval: 1000,
    logger: new (require("graphile-worker").Logger)(() => () => {}),
    taskList: {
      noop: async (_payload, helpers) => {
        lat.push(Date.now() - new Date(helpers.job.run_at).getTime());
        if (lat.length === n) done();
      },
    },
  });
  await finished;
  const drain = (Date.now() - t1) / 1000;
  await runner.stop();
  await utils.release();
  lat.sort((a, b) => a - b);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))];
  console.log(`graphile-worker ${require("graphile-worker/package.json").version} jobs=${n} c=${c} ` +
    `enqueue=${(n / enq).toFixed(0)}/s drain=${(n / drain).toFixed(0)}/s ` +
    `end-to-end=${(n / (enq + drain)).toFixed(0)}/s latency_ms p50=${pct(0.5)} p99=${pct(0.99)}`);
})().catch((e) => { console.error(e); process.exit(1); });
