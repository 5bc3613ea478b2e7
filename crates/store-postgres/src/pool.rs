//! Pool sizing: a share of the server's `max_connections` per Palisade instance.

/// Inputs of [`pool_size`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSizing {
    /// How many Palisade instances share the database.
    pub expected_instances: u32,
    /// Connections left for everything else (admin sessions, migrations, other apps).
    pub reserve: u32,
}

impl Default for PoolSizing {
    fn default() -> Self {
        Self {
            expected_instances: 4,
            reserve: 10,
        }
    }
}

/// `clamp((max_connections - reserve) / expected_instances, 2, 64)`.
pub fn pool_size(max_connections: u32, s: &PoolSizing) -> u32 {
    let usable = max_connections.saturating_sub(s.reserve);
    (usable / s.expected_instances.max(1)).clamp(2, 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula() {
        let d = PoolSizing::default();
        assert_eq!(pool_size(100, &d), 22);
        assert_eq!(pool_size(5, &d), 2);
        assert_eq!(pool_size(10_000, &d), 64);
        let one = PoolSizing {
            expected_instances: 1,
            reserve: 0,
        };
        assert_eq!(pool_size(40, &one), 40);
        let zero = PoolSizing {
            expected_instances: 0,
            reserve: 0,
        };
        assert_eq!(pool_size(40, &zero), 40);
    }
}
