//! Time sources: the system clock for production and a manual clock that tests drive.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + Debug {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// A clock shared between components.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

impl SystemClock {
    /// A shared system clock.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

/// The wall clock until `origin_ms`, then running `rate` times faster: for tests of what
/// many seconds do (cron slots) in a few. Processes given the same origin and rate agree.
#[derive(Debug, Clone, Copy)]
pub struct FastClock {
    origin_ms: i64,
    rate: i64,
}

impl FastClock {
    /// The clock of `spec`, `<origin_ms>x<rate>` (rate 1 ..= 1000); `None` when malformed.
    pub fn parse(spec: &str) -> Option<Self> {
        let (origin, rate) = spec.split_once('x')?;
        let origin_ms = origin.parse().ok()?;
        let rate = rate.parse().ok().filter(|r| (1..=1_000).contains(r))?;
        Some(Self { origin_ms, rate })
    }
}

impl Clock for FastClock {
    fn now_ms(&self) -> i64 {
        let real = SystemClock.now_ms();
        match real - self.origin_ms {
            d if d <= 0 => real,
            d => self.origin_ms + d * self.rate,
        }
    }
}

/// A clock that only moves when told to; for deterministic tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A manual clock starting at `start_ms`.
    pub fn new(start_ms: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(start_ms)))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    /// Sets the clock to `ms`.
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(Duration::from_millis(250));
        assert_eq!(c.now_ms(), 1_250);
        c.set(5);
        assert_eq!(c.now_ms(), 5);
    }

    #[test]
    fn fast_clock_is_the_wall_clock_until_its_origin_then_faster() {
        let now = SystemClock.now_ms();
        let later = FastClock::parse(&format!("{}x100", now + 60_000)).unwrap();
        assert!((later.now_ms() - SystemClock.now_ms()).abs() < 1_000);
        let earlier = FastClock::parse(&format!("{}x100", now - 1_000)).unwrap();
        let ahead = earlier.now_ms() - SystemClock.now_ms();
        assert!((98_000..=101_000).contains(&ahead), "{ahead}");
        for bad in ["", "x10", "1x", "1x0", "1x1001", "ax2", "1y2"] {
            assert!(FastClock::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now_ms() > 1_704_067_200_000);
    }
}
