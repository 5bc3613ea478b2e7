//! Lua shared by the scripts of the one-step stores (OTP, CSRF): the script's time.

/// `now_ms()`: `ARGV[1]` when the caller drives time (a manual clock in tests), else the Redis
/// server's `TIME`, so instances with skewed clocks share one timeline. Every script that
/// includes it takes the caller's time (or `""`) as `ARGV[1]`.
pub(crate) const NOW: &str = "
local function now_ms()
  if ARGV[1] ~= '' then return tonumber(ARGV[1]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
";

/// `ARGV[1]` of a script including [`NOW`]: the caller's time, or `""` for Redis `TIME`.
pub(crate) fn now_arg(clock: Option<&palisade_core::SharedClock>) -> String {
    clock.map(|c| c.now_ms().to_string()).unwrap_or_default()
}
