//! A cheap clock for the memory store: a TSC read (quanta) anchored to the wall clock once.

use palisade_core::{Clock, SystemClock};

/// Milliseconds since the epoch as the system clock read at creation plus the monotonic time
/// elapsed since (quanta: the CPU's invariant TSC, calibrated; the OS monotonic clock where
/// the TSC is unusable). ~10 ns a read against ~40 ns for `SystemTime::now` on this machine's
/// VMs. Monotonic, so a wall-clock step never moves one process's limits backwards; it
/// follows wall time only as far as the calibration is exact (ppm), which is all a
/// one-process store needs (stores shared between instances use their own clocks).
#[derive(Debug)]
pub struct FastClock {
    clock: quanta::Clock,
    start: quanta::Instant,
    start_ms: i64,
}

impl FastClock {
    /// A clock reading the wall clock now and the TSC from then on.
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let start = clock.now();
        Self {
            clock,
            start,
            start_ms: SystemClock.now_ms(),
        }
    }
}

impl Default for FastClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FastClock {
    fn now_ms(&self) -> i64 {
        let d = self.clock.now().duration_since(self.start);
        self.start_ms + d.as_millis() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_system_clock() {
        let c = FastClock::new();
        let a = c.now_ms();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = c.now_ms();
        assert!((25..1_000).contains(&(b - a)), "{a} {b}");
        assert!((SystemClock.now_ms() - b).abs() < 50);
    }
}
