//! Reading the merged layers into a [`Config`], reporting every bad key at once in Palisade's own words.

use super::Config;
use figment::value::{Dict, Value};
use figment::Figment;
use palisade_core::input::{self, PathPart};
use serde_path_to_error::Segment;

/// The most errors reported from one load (each bad key is dropped and the rest read again).
const MAX_ERRORS: usize = 64;

/// Where to find what each key accepts.
const DOCS: &str = "(see docs/configuration.md)";

/// The merged configuration read without the keys that do not fit their type, and an error
/// for each of those (named, never its value): bad keys are dropped one by one and the rest
/// read again, so one run reports them all. `None` when the rest cannot be read.
pub(super) fn config(fig: &Figment) -> (Option<Config>, Vec<String>) {
    let mut value: Value = match fig.extract() {
        Ok(v) => v,
        Err(e) => return (None, vec![layer_error(&e)]),
    };
    let mut errors = Vec::new();
    while errors.len() < MAX_ERRORS {
        match serde_path_to_error::deserialize::<_, Config>(&value) {
            Ok(cfg) => return (Some(cfg), errors),
            Err(e) => {
                let path = parts(e.path());
                let message = e.inner().to_string();
                errors.push(describe(&path, &message));
                if !drop_key(&mut value, &path, &message) {
                    break;
                }
            }
        }
    }
    (None, errors)
}

/// A file that is not valid TOML, by its position only: the line itself may hold a secret.
pub(super) fn file_error(file: &std::path::Path, e: &figment::Error) -> String {
    let msg = e.to_string();
    let at = msg.find("at line ").map(|i| {
        let rest = &msg[i + 3..];
        let end = rest.find('\n').unwrap_or(rest.len());
        rest[..end].trim_end_matches(':').to_owned()
    });
    match at {
        Some(at) => format!("{}: not valid TOML ({at})", file.display()),
        None => format!("{}: not valid TOML", file.display()),
    }
}

fn layer_error(e: &figment::Error) -> String {
    format!("the configuration could not be read: {}", e.kind)
}

fn parts(path: &serde_path_to_error::Path) -> Vec<String> {
    path.iter()
        .filter_map(|s| match s {
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Seq { index } => Some(index.to_string()),
            Segment::Unknown => None,
        })
        .collect()
}

/// `key: what it must be`, from the deserializer's message without the value it quotes.
fn describe(path: &[String], message: &str) -> String {
    let parts: Vec<PathPart<'_>> = path
        .iter()
        .map(|p| match p.parse::<usize>() {
            Ok(i) => PathPart::Index(i),
            Err(_) => PathPart::Field(p),
        })
        .collect();
    let f = input::field_error(&parts, message);
    let field = if f.field.is_empty() {
        "configuration"
    } else {
        f.field.as_str()
    };
    if let Some(known) = message.strip_prefix("unknown field: found `") {
        return format!("{field}: {}", unknown_key(known));
    }
    let generic = "must be a valid value (see the API documentation for this field)";
    let what = match f.message.as_str() {
        m if m == generic => hint(path).unwrap_or_else(|| format!("must be a valid value {DOCS}")),
        "must be a duration" => hint(path).unwrap_or(f.message),
        _ => f.message,
    };
    format!("{field}: {what}")
}

/// figment's `unknown field: found `k`, expected one of `a`, `b`` (after the prefix) in
/// Palisade's words: the keys that section takes.
fn unknown_key(rest: &str) -> String {
    let known: Vec<&str> = rest
        .split_once(", expected ")
        .map(|(_, e)| e.split('`').filter(|t| is_key(t)).collect())
        .unwrap_or_default();
    match known.is_empty() {
        true => format!("unknown key {DOCS}"),
        false => format!(
            "unknown key; this section takes: {} {DOCS}",
            known.join(", ")
        ),
    }
}

fn is_key(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What a key takes, told by its default: a duration (`"30s"`) or a size (`*_limit`).
fn hint(path: &[String]) -> Option<String> {
    let defaults = serde_json::to_value(Config::default()).ok()?;
    let default = path.iter().try_fold(&defaults, |v, k| v.get(k))?;
    let name = path.last()?;
    match default {
        serde_json::Value::String(s) if humantime::parse_duration(s).is_ok() => {
            Some(format!("must be a duration such as \"{s}\""))
        }
        serde_json::Value::Number(_) if name.ends_with("limit") || name.ends_with("size") => {
            Some("must be a size such as \"1MB\" or \"512KiB\", or a number of bytes".into())
        }
        _ => None,
    }
}

/// Removes the failing key so the rest can be read; false when nothing could be removed.
fn drop_key(value: &mut Value, path: &[String], message: &str) -> bool {
    if let Some(name) = message
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        let parent = path.strip_suffix(&[name.to_owned()]).unwrap_or(path);
        return dict_at(value, parent).is_some_and(|d| d.remove(name).is_some());
    }
    match path.split_last() {
        Some((last, parent)) => dict_at(value, parent).is_some_and(|d| d.remove(last).is_some()),
        None => false,
    }
}

fn dict_at<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Dict> {
    let mut cur = value;
    for key in path {
        cur = match cur {
            Value::Dict(_, d) => d.get_mut(key)?,
            // an entry of a list of tables (`[[webhooks.sources]]`), by its index
            Value::Array(_, a) => a.get_mut(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match cur {
        Value::Dict(_, d) => Some(d),
        _ => None,
    }
}
