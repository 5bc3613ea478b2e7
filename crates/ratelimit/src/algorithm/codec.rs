//! A compact text form of algorithm state, for stores that keep it in one column.
//!
//! `g:<tat µs>`, `f:<start ms>:<count>`, `s:<index>:<count>,<index>:<count>…`.

use super::{AlgoState, SlidingState};
use std::fmt::Write as _;

impl AlgoState {
    /// The text form.
    pub fn encode(&self) -> String {
        match self {
            Self::Gcra { tat_us } => format!("g:{tat_us}"),
            Self::Fixed { start_ms, count } => format!("f:{start_ms}:{count}"),
            Self::Sliding(s) => {
                let mut out = String::from("s:");
                for (i, (idx, c)) in s.pairs().enumerate() {
                    let sep = if i > 0 { "," } else { "" };
                    let _ = write!(out, "{sep}{idx}:{c}");
                }
                out
            }
        }
    }

    /// Parses the text form; `None` for anything else.
    pub fn decode(s: &str) -> Option<Self> {
        let (tag, rest) = s.split_once(':')?;
        match tag {
            "g" => Some(Self::Gcra {
                tat_us: rest.parse().ok()?,
            }),
            "f" => {
                let (a, b) = rest.split_once(':')?;
                Some(Self::Fixed {
                    start_ms: a.parse().ok()?,
                    count: b.parse().ok()?,
                })
            }
            "s" => {
                let pairs = rest
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (i, c) = p.split_once(':')?;
                        Some((i.parse().ok()?, c.parse().ok()?))
                    })
                    .collect::<Option<Vec<(i64, u64)>>>()?;
                Some(Self::Sliding(SlidingState::from_pairs(pairs)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for s in [
            AlgoState::Gcra { tat_us: -5 },
            AlgoState::Fixed {
                start_ms: 1000,
                count: 3,
            },
            AlgoState::Sliding(SlidingState::from_pairs([(170, 2), (171, 1)])),
            AlgoState::Sliding(SlidingState::default()),
        ] {
            assert_eq!(AlgoState::decode(&s.encode()), Some(s));
        }
        // ring-slot order, as the 11-slot ring of `(index, units)` always wrote it
        let wrapped = AlgoState::Sliding(SlidingState::from_pairs([(175, 1), (176, 2)]));
        assert_eq!(wrapped.encode(), "s:176:2,175:1");
        assert_eq!(AlgoState::decode("x:1"), None);
        assert_eq!(AlgoState::decode("s:1:a"), None);
    }
}
