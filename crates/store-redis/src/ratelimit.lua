-- Rate-limit decisions, each over several checks all or nothing, on the Redis server's clock.
-- Mirrors palisade_ratelimit::decide_all (the conformance suite holds both to one answer).
-- One call decides SEVERAL independent decisions in order (a batch of concurrent requests of
-- one tenant); a later decision sees the earlier ones' writes, as if they had come one by one.
-- KEYS: the state hash of every check, decisions in order
-- (fields: tat | ws,c | b<index>... ; blk; exp, see lifetime()).
-- ARGV: now_ms ('' = the server's TIME, read once per call; tests pass a driven clock); L, the
-- number of distinct limits, then per limit: algo (g|f|s), quota, window_ms, burst, block_ms,
-- shadow (0|1); then per decision: n, then per check: its limit's index (1..L), cost. A batch
-- usually names few limits, so each is sent and parsed once per call, not once per check.
-- Returns per check, decisions in order: allowed (0|1), outcome (0 allowed, 1 limited,
-- 2 shadow-limited), remaining, reset_after_ms, retry_after_ms.

local floor, max, format, call = math.floor, math.max, string.format, redis.call

local function idiv(a, b) -- exact floor division for integers below 2^53
  local q = floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function cdiv(a, b) return -idiv(-a, b) end
local function us_ms(us) if us <= 0 then return 0 end return cdiv(us, 1000) end
local function num(v, d) if v then return tonumber(v) end return d end
local function str(x) return format('%.0f', x) end -- exact up to 2^53 (tat is in µs)

local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + idiv(tonumber(t[2]), 1000)
end

-- The common decision made lean (no tables, no closures): ONE GCRA check without a block
-- duration, on a key holding no other algorithm's fields. Same arithmetic and writes as
-- gcra() + the general path below (the conformance suite and same_as_memory hold both to the
-- memory store). Returns nil when the key holds foreign fields: the general path decides.
-- Numbers go to HSET as Lua numbers: Redis writes them with 17 significant digits, exact for
-- integers below 2^53 (tat is in µs, ~1.7e15), without a string.format per write.
local function gcra_alone(key, T, tau, w, burst, shadow, cost)
  local raw = call('HGETALL', key)
  local tat, exp, blk = nil, 0, 0
  for i = 1, #raw, 2 do
    local name = raw[i]
    if name == 'tat' then tat = tonumber(raw[i + 1])
    elseif name == 'exp' then exp = tonumber(raw[i + 1])
    elseif name == 'blk' then blk = tonumber(raw[i + 1])
    else return nil end
  end
  local nowu = now * 1000
  local base = nowu
  if tat and tat > nowu then base = tat end
  if cost == 0 then return 1, 0, idiv(max(tau - base + nowu, 0), T), us_ms(base - nowu), 0 end
  local new = base + cost * T
  if new - nowu > tau then
    local reset, retry = us_ms(base - nowu), 0
    if cost <= burst then retry = us_ms(new - nowu - tau) else retry = reset end
    local left = idiv(max(tau - base + nowu, 0), T)
    if blk > now then left, reset, retry = 0, max(reset, blk - now), blk - now end
    if shadow then return 1, 2, left, reset, max(retry, 1) end
    return 0, 1, left, reset, max(retry, 1)
  end
  if blk > now then
    local reset = max(us_ms(new - nowu), blk - now)
    if shadow then return 1, 2, 0, reset, blk - now end
    return 0, 1, 0, reset, blk - now
  end
  local at = cdiv(new, 1000)
  if blk > at then at = blk end
  if at > exp then
    call('HSET', key, 'tat', new, 'exp', at + w)
    call('PEXPIRE', key, tostring(max(at + w - now, 1)))
  else
    call('HSET', key, 'tat', new)
  end
  return 1, 0, idiv(max(tau - new + nowu, 0), T), us_ms(new - nowu), 0
end

-- The call's limits, parsed once.
local L = tonumber(ARGV[2])
local la, lq, lw, lb, lk, ls = {}, {}, {}, {}, {}, {}
for i = 1, L do
  local p = 2 + (i - 1) * 6
  la[i], lq[i], lw[i] = ARGV[p + 1], tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3])
  lb[i], lk[i], ls[i] = tonumber(ARGV[p + 4]), tonumber(ARGV[p + 5]), ARGV[p + 6] == '1'
end
-- GCRA's emission interval T and tolerance tau (µs) per limit, for gcra_alone.
local lt, lu = {}, {}
for i = 1, L do
  if la[i] == 'g' then lt[i] = math.max(cdiv(lw[i] * 1000, lq[i]), 1); lu[i] = lb[i] * lt[i] end
end

-- Per check, decisions in order (see the header).
local out, o = {}, 0

-- The general path (any algorithm, several checks, blocks), defined only when a call needs it:
-- a call of lean decisions does not pay for building its closures.
local function general_path()
  -- Reads a check's state with ONE command: c.blk, the algorithm's fields, and c.foreign, the
  -- fields another algorithm left (the key's policy changed algorithm): they count as no state,
  -- as in memory, and go when this algorithm writes its own.
  local own = {g = {tat = true}, f = {ws = true, c = true}, s = {}}
  local function read(c)
    local raw = redis.call('HGETALL', c.key)
    local mine, sliding = own[c.algo], c.algo == 's'
    local b, lo, cur
    if sliding then
      b = math.max(cdiv(c.w, 10), 1)
      lo, cur = idiv(now - c.w + 1, b), idiv(now, b)
    end
    local live, total, stale, foreign, f = nil, 0, nil, nil, {}
    if sliding then live, stale = {}, {} end
    c.blk, c.exp = 0, 0
    for i = 1, #raw, 2 do
      local name, v = raw[i], raw[i + 1]
      if name == 'blk' then
        c.blk = tonumber(v)
      elseif name == 'exp' then
        c.exp = tonumber(v)
      elseif mine[name] then
        f[name] = v
      else
        local idx = sliding and string.match(name, '^b(-?%d+)$')
        if idx then
          idx = tonumber(idx)
          local n = tonumber(v)
          if idx >= lo and idx <= cur and n > 0 then
            live[#live + 1] = {idx, n}
            total = total + n
          else
            stale[#stale + 1] = name
          end
        else
          foreign = foreign or {}
          foreign[#foreign + 1] = name
        end
      end
    end
    c.foreign = foreign
    if sliding then
      table.sort(live, function(x, y) return x[1] < y[1] end)
      c.b, c.cur, c.live, c.total, c.stale = b, cur, live, total, stale
    else
      c.tat, c.ws, c.cnt = f.tat, num(f.ws, -1), num(f.c, 0)
    end
  end

  -- Each returns {allowed, remaining, reset, retry[, write, expires_at]} from the state read.
  local function gcra(c, cost)
    local q, burst = c.q, c.burst
    local T = math.max(cdiv(c.w * 1000, q), 1)
    local tau = burst * T
    local nowu = now * 1000
    local base = math.max(num(c.tat, nowu), nowu)
    if cost == 0 then return {1, idiv(math.max(tau - base + nowu, 0), T), us_ms(base - nowu), 0} end
    local new = base + cost * T
    if new - nowu <= tau then
      return {1, idiv(math.max(tau - new + nowu, 0), T), us_ms(new - nowu), 0, {'tat', str(new)}, cdiv(new, 1000)}
    end
    local reset = us_ms(base - nowu)
    local retry = reset
    if cost <= burst then retry = us_ms(new - nowu - tau) end
    return {0, idiv(math.max(tau - base + nowu, 0), T), reset, math.max(retry, 1)}
  end

  local function fixed(c, cost)
    local q, w = c.q, c.w
    local start = now - (now % w)
    local count = 0
    if c.ws == start then count = c.cnt end
    local reset = start + w - now
    if cost == 0 or count + cost <= q then
      local used = count + cost
      if used == 0 then reset = 0 end
      local write = nil
      if cost > 0 then write = {'ws', str(start), 'c', tostring(used)} end
      return {1, math.max(q - used, 0), reset, 0, write, start + w}
    end
    return {0, math.max(q - count, 0), reset, math.max(reset, 1)}
  end

  local function sliding(c, cost)
    local q, w, b, live, total = c.q, c.w, c.b, c.live, c.total
    local function leaves(idx) return (idx + 1) * b + w - 1 end
    local newest = nil
    if #live > 0 then newest = live[#live][1] end
    local function reset_of(m) if m then return leaves(m) - now end return 0 end
    if cost == 0 or total + cost <= q then
      local write = nil
      if cost > 0 then
        newest = c.cur
        write = {incr = 'b' .. str(c.cur), by = cost}
      end
      return {1, math.max(q - total - cost, 0), reset_of(newest), 0, write, leaves(c.cur)}
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

  local function evaluate(c, cost)
    if c.algo == 'g' then return gcra(c, cost) end
    if c.algo == 'f' then return fixed(c, cost) end
    return sliding(c, cost)
  end

  -- Field `exp` records (on the decision's clock) when the key expires at the earliest. A state
  -- write that needs the key until `at` (after it the key holds only that state and `blk`, so
  -- max(at, blk) is when all of it stops mattering) extends the key only when that passes `exp`,
  -- and then by one window more, so most writes need no PEXPIRE. State kept past the time it
  -- stops mattering decides exactly like no state. Returns the new `exp`, or nil.
  local function lifetime(c, at)
    if c.blk > at then at = c.blk end
    if at <= c.exp then return nil end
    return at + c.w
  end

  -- Sets the key's expiry to `exp` (relative, so a driven clock works too).
  local function expire(c, exp)
    redis.call('PEXPIRE', c.key, tostring(math.max(exp - now, 1)))
  end

  -- A new block: extends the key's life to the block's end, never shortening it.
  local function block(c)
    local at = now + c.block
    redis.call('HSET', c.key, 'blk', str(at))
    if at - now > redis.call('PTTL', c.key) then redis.call('PEXPIRE', c.key, tostring(c.block)) end
  end

  -- Any decision: its n checks at ARGV a + 1 .. a + 2n on KEYS k + 1 .. k + n; appends to out.
  local function decide(a, k, n)
    local checks, evals, gate = {}, {}, false
    for i = 1, n do
      local p = a + (i - 1) * 2
      local l = tonumber(ARGV[p + 1])
      local c = {key = KEYS[k + i], algo = la[l], q = lq[l], w = lw[l], burst = lb[l],
        block = lk[l], shadow = ls[l], cost = tonumber(ARGV[p + 2])}
      read(c)
      local e = evaluate(c, c.cost)
      c.blocked = false
      if c.blk > now and c.cost > 0 then
        e = {0, 0, math.max(e[3], c.blk - now), c.blk - now}
        c.blocked = true
      end
      if e[1] == 0 and not c.shadow then gate = true end
      checks[i], evals[i] = c, e
    end
    for i = 1, n do
      local c, e = checks[i], evals[i]
      local outcome = 0
      if e[1] == 0 then if c.shadow then outcome = 2 else outcome = 1 end end
      local shown = e
      if gate and e[1] == 1 then shown = evaluate(c, 0) end
      local reset, retry = shown[3], shown[4]
      if e[1] == 0 and not c.blocked and c.block > 0 then
        retry, reset = math.max(retry, c.block), math.max(reset, c.block)
        block(c)
      elseif not gate and e[1] == 1 and e[5] then
        local wr, exp = e[5], lifetime(c, e[6])
        if c.foreign then redis.call('HDEL', c.key, unpack(c.foreign)) end
        if wr.incr then
          if #c.stale > 0 then redis.call('HDEL', c.key, unpack(c.stale)) end
          redis.call('HINCRBY', c.key, wr.incr, wr.by)
          if exp then redis.call('HSET', c.key, 'exp', str(exp)) end
        else
          if exp then wr[#wr + 1], wr[#wr + 2] = 'exp', str(exp) end
          redis.call('HSET', c.key, unpack(wr))
        end
        if exp then expire(c, exp) end
      end
      local allowed = 1
      if outcome == 1 then allowed = 0 end
      out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] =
        allowed, outcome, shown[2], reset, retry
      o = o + 5
    end
  end
  return decide
end
local decide

local a, k = 3 + L * 6, 0
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  local r1, r2, r3, r4, r5
  local l = n == 1 and tonumber(ARGV[a + 1])
  if l and la[l] == 'g' and lk[l] == 0 then
    r1, r2, r3, r4, r5 = gcra_alone(KEYS[k + 1], lt[l], lu[l], lw[l], lb[l], ls[l],
      tonumber(ARGV[a + 2]))
  end
  if r1 then
    out[o + 1], out[o + 2], out[o + 3], out[o + 4], out[o + 5] = r1, r2, r3, r4, r5
    o = o + 5
  else
    decide = decide or general_path()
    decide(a, k, n)
  end
  a, k = a + 1 + n * 2, k + n
end
return out
