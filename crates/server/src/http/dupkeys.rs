//! Duplicate object keys anywhere in a JSON body: refused, never silently last-one-wins.

use palisade_core::input::{render, PathPart};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// A step of the path to a value.
enum Step {
    Key(String),
    Index(usize),
}

/// The path (as `a.b[2].c`, caller-chosen keys hidden) of the first key that appears twice in
/// one object of `json`; `None` when there is none or `json` does not parse.
pub fn first_duplicate(json: &[u8]) -> Option<String> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let mut walk = Walk {
        path: Vec::new(),
        found: None,
    };
    (&mut walk).deserialize(&mut de).ok()?;
    let found = walk.found?;
    let parts: Vec<PathPart<'_>> = found
        .iter()
        .map(|s| match s {
            Step::Key(k) => PathPart::Field(k),
            Step::Index(i) => PathPart::Index(*i),
        })
        .collect();
    Some(render(&parts))
}

struct Walk {
    path: Vec<Step>,
    found: Option<Vec<Step>>,
}

impl Walk {
    fn record(&mut self, key: &str) {
        if self.found.is_none() {
            let mut p: Vec<Step> = self.path.iter().map(Step::copy).collect();
            p.push(Step::Key(key.to_owned()));
            self.found = Some(p);
        }
    }
}

impl Step {
    fn copy(&self) -> Step {
        match self {
            Step::Key(k) => Step::Key(k.clone()),
            Step::Index(i) => Step::Index(*i),
        }
    }
}

impl<'de> DeserializeSeed<'de> for &mut Walk {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut Walk {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.found.is_some() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if !seen.insert(key.clone()) {
                self.record(&key);
            }
            self.path.push(Step::Key(key));
            map.next_value_seed(&mut *self)?;
            self.path.pop();
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            self.path.push(Step::Index(i));
            let more = seq.next_element_seed(&mut *self)?.is_some();
            self.path.pop();
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::first_duplicate;

    #[test]
    fn finds_the_first_repeated_key_at_any_depth() {
        assert_eq!(first_duplicate(br#"{"a":1,"a":2}"#).as_deref(), Some("a"));
        let nested = br#"{"payload":{"x":[{"k":1},{"k":1,"k":2}]}}"#;
        assert_eq!(first_duplicate(nested).as_deref(), Some("payload.x[1].k"));
        assert_eq!(
            first_duplicate(br#"{"m":{"caller key!":1,"caller key!":2}}"#).as_deref(),
            Some("m.*")
        );
        assert_eq!(first_duplicate(br#"{"a":{"b":1},"b":{"b":1}}"#), None);
        assert_eq!(first_duplicate(br#"[1,{"a":[]}]"#), None);
        assert_eq!(first_duplicate(b"{"), None);
    }
}
