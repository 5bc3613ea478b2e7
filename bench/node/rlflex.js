// rate-limiter-flexible on the same Redis / PostgreSQL as Palisade's benchmark:
// 64 concurrent callers, keys user:<n> of 10 000, a limit no call reaches (every call writes).
//   node rlflex.js redis redis://127.0.0.1:6379 [seconds]
//   node rlflex.js postgres postgres://postgres@127.0.0.1:5432/test [seconds]
const { RateLimiterRedis, RateLimiterPostgres } = require('rate-limiter-flexible');

const CALLERS = 64;
const KEYS = 10000;
const [, , kind, url, secsArg] = process.argv;
const secs = Number(secsArg || 5);

async function limiter() {
  if (kind === 'redis') {
    const Redis = require('ioredis');
    const client = new Redis(url, { enableOfflineQueue: true });
    const rl = new RateLimiterRedis({ storeClient: client, keyPrefix: 'rlflexbench', points: 1e9, duration: 1 });
    return { rl, close: () => client.quit() };
  }
  if (kind === 'postgres') {
    const { Pool } = require('pg');
    const pool = new Pool({ connectionString: url, max: 16 });
    const rl = await new Promise((resolve, reject) => {
      const r = new RateLimiterPostgres(
        { storeClient: pool, storeType: 'pool', tableName: 'rlflex_bench', points: 1e9, duration: 1, clearExpiredByTimeout: false },
        (err) => (err ? reject(err) : resolve(r)),
      );
    });
    return { rl, close: () => pool.end() };
  }
  console.error('usage: node rlflex.js redis|postgres URL [seconds]');
  process.exit(2);
}

async function main() {
  const { rl, close } = await limiter();
  let done = 0;
  let errors = 0;
  let stop = false;
  const start = process.hrtime.bigint();
  const caller = async (i) => {
    let n = (i * 7919) % KEYS;
    while (!stop) {
      n = (n + 104729) % KEYS;
      try {
        await rl.consume(`user:${n}`, 1);
        done++;
      } catch (e) {
        errors++;
      }
    }
  };
  const callers = Array.from({ length: CALLERS }, (_, i) => caller(i));
  setTimeout(() => { stop = true; }, secs * 1000);
  await Promise.all(callers);
  const took = Number(process.hrtime.bigint() - start) / 1e9;
  if (errors) console.error(`${errors} errors`);
  console.log(`${Math.round(done / took)} decisions/s (${CALLERS} callers, ${secs} s, rate-limiter-flexible ${kind})`);
  await close();
}

main();
