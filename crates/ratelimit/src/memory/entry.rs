//! One key of the memory store in one cache line: its composed name, its state, its expiry.

use crate::algorithm::{self, fixed, gcra, AlgoState};
use crate::decision::{Check, Decision, KeyState, Outcome};
use crate::policy::Algorithm;
use foldhash::fast::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A (tenant, policy, key) borrowed from the request: looked up without composing a name.
#[derive(Clone, Copy)]
pub(super) struct KeyRef<'a> {
    tenant: &'a [u8],
    policy: &'a [u8],
    key: &'a [u8],
}

impl<'a> KeyRef<'a> {
    #[inline]
    pub(super) fn of(tenant: &'a str, policy: &'a str, key: &'a str) -> Self {
        Self {
            tenant: tenant.as_bytes(),
            policy: policy.as_bytes(),
            key: key.as_bytes(),
        }
    }

    /// The parts of a composed name (tenants and policy names never hold `\x1f`).
    fn parse(name: &'a [u8]) -> Self {
        let mut it = name.splitn(3, |&b| b == 0x1f);
        let (tenant, policy) = (it.next().unwrap_or(&[]), it.next().unwrap_or(&[]));
        Self {
            tenant,
            policy,
            key: it.next().unwrap_or(&[]),
        }
    }

    /// The key's hash: foldhash, seeded per store (its `write` folds in each part's length).
    #[inline]
    pub(super) fn hash(&self, seed: &RandomState) -> u64 {
        let mut h = seed.build_hasher();
        h.write(self.tenant);
        h.write(self.policy);
        h.write(self.key);
        h.finish()
    }

    /// True when `name` is this key composed.
    #[inline]
    pub(super) fn matches(&self, name: &[u8]) -> bool {
        let (t, p) = (self.tenant.len(), self.policy.len());
        name.len() == t + p + self.key.len() + 2
            && name[t] == 0x1f
            && name[t + 1 + p] == 0x1f
            && eq_short(&name[t + p + 2..], self.key)
            && eq_short(&name[t + 1..t + 1 + p], self.policy)
            && eq_short(&name[..t], self.tenant)
    }

    fn len(&self) -> usize {
        self.tenant.len() + self.policy.len() + self.key.len() + 2
    }

    fn write_to(&self, out: &mut [u8]) {
        let (t, p) = (self.tenant.len(), self.policy.len());
        out[..t].copy_from_slice(self.tenant);
        out[t] = 0x1f;
        out[t + 1..t + 1 + p].copy_from_slice(self.policy);
        out[t + 1 + p] = 0x1f;
        out[t + p + 2..].copy_from_slice(self.key);
    }
}

/// Byte equality of two short slices without a `memcmp` call: 8-byte words, the last one
/// overlapping, or two overlapping 4-byte words, or three bytes.
#[inline(always)]
pub(super) fn eq_short(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let w8 = |s: &[u8], i: usize| u64::from_ne_bytes(s[i..i + 8].try_into().unwrap_or_default());
    let w4 = |s: &[u8], i: usize| u32::from_ne_bytes(s[i..i + 4].try_into().unwrap_or_default());
    if n >= 8 {
        let mut i = 0;
        while i + 8 < n {
            if w8(a, i) != w8(b, i) {
                return false;
            }
            i += 8;
        }
        w8(a, n - 8) == w8(b, n - 8)
    } else if n >= 4 {
        w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4)
    } else {
        n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1])
    }
}

/// Names up to this many bytes live in the entry itself.
const INLINE: usize = 30;

/// A composed `tenant \x1f policy \x1f key`: inline when short, else on the heap.
#[derive(Debug)]
enum Name {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Name {
    fn of(k: &KeyRef<'_>) -> Self {
        let n = k.len();
        if n <= INLINE {
            let mut bytes = [0; INLINE];
            k.write_to(&mut bytes[..n]);
            Self::Inline {
                len: n as u8,
                bytes,
            }
        } else {
            let mut v = vec![0; n];
            k.write_to(&mut v);
            Self::Heap(v.into_boxed_slice())
        }
    }

    #[inline]
    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..*len as usize],
            Self::Heap(b) => b,
        }
    }
}

/// A [`KeyState`] in 24 bytes for GCRA and fixed windows (the common states), boxed otherwise.
#[derive(Debug)]
enum Slot {
    Gcra {
        tat_us: i64,
        blocked_until_ms: i64,
    },
    Fixed {
        start_ms: i64,
        count: u32,
        blocked_until_ms: i64,
    },
    Other(Box<KeyState>),
}

impl Slot {
    #[inline]
    fn of(s: KeyState) -> Self {
        let blocked_until_ms = s.blocked_until_ms;
        match s.algo {
            Some(AlgoState::Gcra { tat_us }) => Self::Gcra {
                tat_us,
                blocked_until_ms,
            },
            Some(AlgoState::Fixed { start_ms, count }) if count <= u32::MAX as u64 => Self::Fixed {
                start_ms,
                count: count as u32,
                blocked_until_ms,
            },
            _ => Self::Other(Box::new(s)),
        }
    }

    #[inline]
    fn get(&self) -> KeyState {
        match self {
            Self::Gcra {
                tat_us,
                blocked_until_ms,
            } => KeyState {
                algo: Some(AlgoState::Gcra { tat_us: *tat_us }),
                blocked_until_ms: *blocked_until_ms,
            },
            Self::Fixed {
                start_ms,
                count,
                blocked_until_ms,
            } => KeyState {
                algo: Some(AlgoState::Fixed {
                    start_ms: *start_ms,
                    count: *count as u64,
                }),
                blocked_until_ms: *blocked_until_ms,
            },
            Self::Other(b) => **b,
        }
    }

    #[inline]
    fn set(&mut self, s: KeyState) {
        match (self, Self::of(s)) {
            (Self::Other(b), Self::Other(_)) => **b = s,
            (me, next) => *me = next,
        }
    }
}

/// One stored key. 64 bytes, aligned: a lookup touches one line of the table.
#[derive(Debug)]
#[repr(align(64))]
pub(super) struct Entry {
    pub(super) expires_at_ms: i64,
    slot: Slot,
    name: Name,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 64);

impl Entry {
    pub(super) fn new(k: &KeyRef<'_>, state: KeyState, expires_at_ms: i64) -> Self {
        Self {
            expires_at_ms,
            slot: Slot::of(state),
            name: Name::of(k),
        }
    }

    #[inline]
    pub(super) fn is(&self, k: &KeyRef<'_>) -> bool {
        k.matches(self.name.as_bytes())
    }

    /// The hash this entry was stored under (to grow the table).
    pub(super) fn hash(&self, seed: &RandomState) -> u64 {
        KeyRef::parse(self.name.as_bytes()).hash(seed)
    }

    #[inline]
    pub(super) fn state(&self) -> KeyState {
        self.slot.get()
    }

    #[inline]
    pub(super) fn set(&mut self, state: KeyState, expires_at_ms: i64) {
        self.slot.set(state);
        self.expires_at_ms = expires_at_ms;
    }

    /// The common case decided in place: a GCRA or fixed-window check of an unblocked key
    /// that is allowed. Exactly what [`crate::decision::decide_one`] decides and writes then;
    /// `None` for anything else (denied, blocked, sliding window, an algorithm changed),
    /// which takes the general path.
    #[inline(always)]
    pub(super) fn allow_in_place(&mut self, c: &Check, now_ms: i64) -> Option<Decision> {
        let free = |blocked_until_ms: i64| blocked_until_ms <= now_ms || c.cost == 0;
        let e = match (&mut self.slot, c.limit.algorithm) {
            (
                Slot::Gcra {
                    tat_us,
                    blocked_until_ms,
                },
                Algorithm::Gcra,
            ) if free(*blocked_until_ms) => {
                let e = gcra::evaluate(&c.limit, Some(*tat_us), now_ms, c.cost);
                if let (true, Some(next @ AlgoState::Gcra { tat_us: t })) = (e.allowed, e.next) {
                    *tat_us = t;
                    let exp = algorithm::expires_at_ms(&c.limit, &next);
                    self.expires_at_ms = exp.max(*blocked_until_ms);
                }
                e
            }
            (
                Slot::Fixed {
                    start_ms,
                    count,
                    blocked_until_ms,
                },
                Algorithm::FixedWindow,
            ) if free(*blocked_until_ms) => {
                let e = fixed::evaluate(&c.limit, Some((*start_ms, *count as u64)), now_ms, c.cost);
                match (e.allowed, e.next) {
                    (
                        true,
                        Some(
                            next @ AlgoState::Fixed {
                                start_ms: s,
                                count: n,
                            },
                        ),
                    ) if n <= u32::MAX as u64 => {
                        (*start_ms, *count) = (s, n as u32);
                        let exp = algorithm::expires_at_ms(&c.limit, &next);
                        self.expires_at_ms = exp.max(*blocked_until_ms);
                    }
                    (true, Some(_)) => return None,
                    _ => {}
                }
                e
            }
            _ => return None,
        };
        e.allowed.then_some(Decision {
            allowed: true,
            outcome: Outcome::Allowed,
            limit: c.limit.quota,
            remaining: e.remaining,
            reset_after_ms: e.reset_after_ms,
            retry_after_ms: e.retry_after_ms,
            fallback: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::SlidingState;

    #[test]
    fn eq_short_compares_every_byte() {
        let a = b"tenant-0123456789abcdefXYZ";
        for n in 0..a.len() {
            assert!(eq_short(&a[..n], &a[..n]));
            for i in 0..n {
                let mut b = a[..n].to_vec();
                b[i] ^= 1;
                assert!(!eq_short(&a[..n], &b), "byte {i} of {n}");
            }
        }
        assert!(!eq_short(&a[..16], &a[..8]));
    }

    #[test]
    fn names_round_trip_inline_and_on_the_heap() {
        let seed = RandomState::default();
        for key in ["k", "user:12345678901234567", &"x".repeat(512)] {
            let k = KeyRef::of("tenant-1", "api", key);
            let e = Entry::new(&k, KeyState::default_for_test(), 0);
            assert!(e.is(&k));
            assert!(!e.is(&KeyRef::of("tenant-1", "apj", key)));
            assert!(!e.is(&KeyRef::of("tenant-1a", "pi", key)));
            assert_eq!(e.hash(&seed), k.hash(&seed));
        }
    }

    #[test]
    fn slots_keep_every_state() {
        let states = [
            (Some(AlgoState::Gcra { tat_us: -5 }), 7),
            (
                Some(AlgoState::Fixed {
                    start_ms: 1000,
                    count: 3,
                }),
                0,
            ),
            (
                Some(AlgoState::Fixed {
                    start_ms: 1000,
                    count: u64::MAX,
                }),
                0,
            ),
            (
                Some(AlgoState::Sliding(SlidingState::from_pairs([(170, 2)]))),
                9,
            ),
            (None, 42),
        ];
        let mut slot = Slot::of(KeyState::default_for_test());
        for (algo, blocked_until_ms) in states {
            let s = KeyState {
                algo,
                blocked_until_ms,
            };
            assert_eq!(Slot::of(s).get(), s);
            slot.set(s);
            assert_eq!(slot.get(), s);
        }
    }

    impl KeyState {
        fn default_for_test() -> Self {
            KeyState {
                algo: None,
                blocked_until_ms: 0,
            }
        }
    }
}
