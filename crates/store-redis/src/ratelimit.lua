-- One rate-limit decision over several checks, all or nothing, on the Redis server's clock.
-- Mirrors palisade_ratelimit::decide_all (the conformance suite holds both to one answer).
-- KEYS[i]: the state hash of check i (fields: tat | ws,c | b<index>... ; blk).
-- ARGV: n, now_ms ('' = the server's TIME; tests pass a driven clock), then per check: algo (g|f|s), quota, window_ms, burst, block_ms, shadow (0|1), cost.
-- Returns per check: allowed (0|1), outcome (0 allowed, 1 limited, 2 shadow-limited),
-- remaining, reset_after_ms, retry_after_ms.

local function idiv(a, b) -- exact floor division for integers below 2^53
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function cdiv(a, b) return -idiv(-a, b) end
local function us_ms(us) if us <= 0 then return 0 end return cdiv(us, 1000) end
local function num(v, d) if v then return tonumber(v) end return d end
local function str(x) return string.format('%.0f', x) end

local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + idiv(tonumber(t[2]), 1000)
end

local function gcra(key, q, w, burst, cost)
  local T = math.max(cdiv(w * 1000, q), 1)
  local tau = burst * T
  local nowu = now * 1000
  local base = math.max(num(redis.call('HGET', key, 'tat'), nowu), nowu)
  local function left(used) return idiv(math.max(tau - used, 0), T) end
  if cost == 0 then return {1, left(base - nowu), us_ms(base - nowu), 0} end
  local new = base + cost * T
  if new - nowu <= tau then
    return {1, left(new - nowu), us_ms(new - nowu), 0, {'tat', str(new)}, cdiv(new, 1000)}
  end
  local reset = us_ms(base - nowu)
  local retry = reset
  if cost <= burst then retry = us_ms(new - nowu - tau) end
  return {0, left(base - nowu), reset, math.max(retry, 1)}
end

local function fixed(key, q, w, cost)
  local start = now - (now % w)
  local f = redis.call('HMGET', key, 'ws', 'c')
  local count = 0
  if num(f[1], -1) == start then count = num(f[2], 0) end
  local reset = start + w - now
  if cost == 0 or count + cost <= q then
    local used = count + cost
    if used == 0 then reset = 0 end
    return {1, math.max(q - used, 0), reset, 0, {'ws', str(start), 'c', str(used)}, start + w}
  end
  return {0, math.max(q - count, 0), reset, math.max(reset, 1)}
end

local function sliding(key, q, w, cost)
  local b = math.max(cdiv(w, 10), 1)
  local lo, cur = idiv(now - w + 1, b), idiv(now, b)
  local raw = redis.call('HGETALL', key)
  local live, total, stale = {}, 0, {}
  for i = 1, #raw, 2 do
    local idx = string.match(raw[i], '^b(-?%d+)$')
    if idx then
      idx = tonumber(idx)
      local c = tonumber(raw[i + 1])
      if idx >= lo and idx <= cur and c > 0 then
        live[#live + 1] = {idx, c}
        total = total + c
      else
        stale[#stale + 1] = raw[i]
      end
    end
  end
  table.sort(live, function(x, y) return x[1] < y[1] end)
  local function leaves(idx) return (idx + 1) * b + w - 1 end
  local newest = nil
  if #live > 0 then newest = live[#live][1] end
  local function reset_of(m) if m then return leaves(m) - now end return 0 end
  if cost == 0 or total + cost <= q then
    local write = nil
    if cost > 0 then
      newest = cur
      write = {incr = 'b' .. str(cur), by = cost, stale = stale}
    end
    return {1, math.max(q - total - cost, 0), reset_of(newest), 0, write, leaves(cur)}
  end
  local reset = reset_of(newest)
  local retry = reset
  if cost <= q then
    local need, freed = total + cost - q, 0
    for _, p in ipairs(live) do
      freed = freed + p[2]
      if freed >= need then retry = leaves(p[1]) - now; break end
    end
  end
  return {0, math.max(q - total, 0), reset, math.max(retry, 1)}
end

local function evaluate(algo, key, q, w, burst, cost)
  if algo == 'g' then return gcra(key, q, w, burst, cost) end
  if algo == 'f' then return fixed(key, q, w, cost) end
  return sliding(key, q, w, cost)
end

-- Keeps the key until `at` on the decision's clock (relative, so a driven clock works too).
local function extend(key, at)
  local ttl = at - now
  if ttl > redis.call('PTTL', key) then redis.call('PEXPIRE', key, str(math.max(ttl, 1))) end
end

local n = tonumber(ARGV[1])
local checks, evals, gate = {}, {}, false
for i = 1, n do
  local a = 2 + (i - 1) * 7
  local c = {key = KEYS[i], algo = ARGV[a + 1], q = tonumber(ARGV[a + 2]), w = tonumber(ARGV[a + 3]),
    burst = tonumber(ARGV[a + 4]), block = tonumber(ARGV[a + 5]), shadow = ARGV[a + 6] == '1',
    cost = tonumber(ARGV[a + 7])}
  local e = evaluate(c.algo, c.key, c.q, c.w, c.burst, c.cost)
  local blk = num(redis.call('HGET', c.key, 'blk'), 0)
  c.blocked = false
  if blk > now and c.cost > 0 then
    e = {0, 0, math.max(e[3], blk - now), blk - now}
    c.blocked = true
  end
  if e[1] == 0 and not c.shadow then gate = true end
  checks[i], evals[i] = c, e
end

local out = {}
for i = 1, n do
  local c, e = checks[i], evals[i]
  local outcome = 0
  if e[1] == 0 then if c.shadow then outcome = 2 else outcome = 1 end end
  local shown = e
  if gate and e[1] == 1 then shown = evaluate(c.algo, c.key, c.q, c.w, c.burst, 0) end
  local reset, retry = shown[3], shown[4]
  if e[1] == 0 and not c.blocked and c.block > 0 then
    retry, reset = math.max(retry, c.block), math.max(reset, c.block)
    redis.call('HSET', c.key, 'blk', str(now + c.block))
    extend(c.key, now + c.block)
  elseif not gate and e[1] == 1 and e[5] then
    local wr = e[5]
    if wr.incr then
      if #wr.stale > 0 then redis.call('HDEL', c.key, unpack(wr.stale)) end
      redis.call('HINCRBY', c.key, wr.incr, wr.by)
    else
      redis.call('HSET', c.key, unpack(wr))
    end
    extend(c.key, e[6])
  end
  local allowed = 1
  if outcome == 1 then allowed = 0 end
  local base = (i - 1) * 5
  out[base + 1], out[base + 2], out[base + 3], out[base + 4], out[base + 5] =
    allowed, outcome, shown[2], reset, retry
end
return out
