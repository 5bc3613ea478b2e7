// BullMQ: bulk-enqueue N trivial jobs (addBulk), then drain them with one Worker of
// concurrency C; prints drain jobs/s and enqueue-to-start latency (job.timestamp to start)
// p50/p99. usage: node bullmq.js <redis-host> <redis-port> [N=20000] [C=50]
const { Queue, Worker } = require("bullmq");
const [host, port, N = "20000", C = "50"] = process.argv.slice(2);
const n = Number(N), c = Number(C);
const connection = { host, port: Number(port), maxRetriesPerRequest: null };
const name = `palisade-bench-${process.pid}`;
(async () => {
  const queue = new Queue(name, { connection });
  const t0 = Date.now();
  for (let i = 0; i < n; i += 1000) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + 1000); j++)
      jobs.push({ name: "noop", data: {}, opts: { removeOnComplete: true } });
    await queue.addBulk(jobs);
  }
  const enq = (Date.now() - t0) / 1000;
  const lat = [];
  let done;
  const finished = new Promise((r) => (done = r));
  const t1 = Date.now();
  const worker = new Worker(name, async (job) => {
    lat.push(Date.now() - job.timestamp);
    if (lat.length === n) done();
  }, { connection, concurrency: c });
  await finished;
  const drain = (Date.now() - t1) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  lat.sort((a, b) => a - b);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))];
  console.log(`bullmq ${require("bullmq/package.json").version} jobs=${n} c=${c} ` +
    `enqueue=${(n / enq).toFixed(0)}/s drain=${(n / drain).toFixed(0)}/s ` +
    `end-to-end=${(n / (enq + drain)).toFixed(0)}/s latency_ms p50=${pct(0.5)} p99=${pct(0.99)}`);
})().catch((e) => { console.error(e); process.exit(1); });
