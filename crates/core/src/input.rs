//! Bad-input errors that name the field and what is expected, never the value received.
//!
//! A deserializer's message on caller input (serde's `invalid type: string "…", expected u64`,
//! `unknown variant `…``, `unknown field `…``) copies the input and speaks Rust. [`field_error`]
//! turns such a message and the path of the failing field into a [`FieldError`] in plain words
//! ("must be a whole number", "must be one of: a, b"); anything it does not recognise becomes a
//! generic message rather than being passed through. Only names taken from Palisade's own
//! schemas (field and variant names that look like identifiers) are ever shown.

use crate::FieldError;

/// One step of the path to a failing field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPart<'a> {
    /// An object member.
    Field(&'a str),
    /// An array element.
    Index(usize),
}

/// What replaces a path step that does not look like one of Palisade's field names (a key of a
/// free-form map is the caller's).
const HIDDEN: &str = "*";

/// The [`FieldError`] for `message` (a serde / serde_json / serde_urlencoded error message) at
/// `path`. Anything not recognised reads "must be a valid value (see the API documentation …)".
pub fn field_error(path: &[PathPart<'_>], message: &str) -> FieldError {
    let message = strip_position(message);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let parent = &path[..path.len().saturating_sub(1)];
        return FieldError::new(render(parent), unknown_field(rest));
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.trim_end_matches('`');
        let mut p = path.to_vec();
        p.push(PathPart::Field(name));
        return FieldError::new(render(&p), "is required");
    }
    if message.starts_with("duplicate field `") {
        return FieldError::new(render(path), "appears more than once");
    }
    FieldError::new(render(path), format!("must be {}", expected(message)))
}

/// The path as `a.b[2].c`, with steps that are not identifiers hidden.
pub fn render(path: &[PathPart<'_>]) -> String {
    let mut out = String::new();
    for part in path {
        match part {
            PathPart::Index(i) => out.push_str(&format!("[{i}]")),
            PathPart::Field(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if is_name(name) { name } else { HIDDEN });
            }
        }
    }
    out
}

/// A schema name: 1 to 64 of `a-z A-Z 0-9 _`, not starting with a digit.
fn is_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// serde_json appends ` at line L column C`.
fn strip_position(m: &str) -> &str {
    match m.rfind(" at line ") {
        Some(i) if m[i..].contains(" column ") => &m[..i],
        _ => m,
    }
}

/// The schema's own part of a message: after the last `, expected ` (serde puts what the
/// schema expects last, after the caller's value).
fn schema_part(m: &str) -> Option<&str> {
    m.rfind(", expected ")
        .map(|i| &m[i + ", expected ".len()..])
}

/// The backtick-quoted names in `s` that look like schema names.
fn names(s: &str) -> Vec<&str> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .filter(|n| is_name(n))
        .collect()
}

fn unknown_field(rest: &str) -> String {
    if rest.ends_with("there are no fields") {
        return "unknown field: this object takes no fields".into();
    }
    let allowed = schema_part(rest).map(names).unwrap_or_default();
    if allowed.is_empty() {
        "unknown field".into()
    } else {
        format!("unknown field; allowed fields: {}", allowed.join(", "))
    }
}

/// What the message says is expected, in plain words.
fn expected(m: &str) -> String {
    if m.starts_with("unknown variant `") {
        let allowed = schema_part(m).map(names).unwrap_or_default();
        return if allowed.is_empty() {
            generic()
        } else {
            format!("one of: {}", allowed.join(", "))
        };
    }
    let typed = ["invalid type: ", "invalid value: ", "invalid length "];
    if typed.iter().any(|p| m.starts_with(p)) {
        return schema_part(m).map_or_else(generic, plain);
    }
    parse_error(m)
        .map(str::to_owned)
        .or_else(|| own_expectation(m))
        .unwrap_or_else(generic)
}

fn generic() -> String {
    "a valid value (see the API documentation for this field)".into()
}

/// The messages of `str::parse` errors (query strings): they never carry the input.
fn parse_error(m: &str) -> Option<&'static str> {
    Some(match m {
        "invalid digit found in string"
        | "cannot parse integer from empty string"
        | "number too large to fit in target type"
        | "number too small to fit in target type" => "a whole number in range",
        "invalid float literal" => "a number",
        "provided string was not `true` or `false`" => "true or false",
        "number out of range" => "a number in range",
        _ => return None,
    })
}

/// Palisade's own custom messages are written `expected …` without quoting the input.
fn own_expectation(m: &str) -> Option<String> {
    let rest = m.strip_prefix("expected ")?;
    let quoted = rest.contains(['`', '"', '\'']);
    (!quoted).then(|| rest.to_owned())
}

/// A serde "expected" text (`u64`, `a string`, `struct CheckBody`, `one of `a`, `b``) in
/// plain words.
fn plain(exp: &str) -> String {
    let word = match exp {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "u64" | "u128" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" | "floating point" => "a number",
        "a string" | "string" | "a borrowed string" | "a string or bytes" => "a string",
        "a character" | "a char" | "char" => "a single character",
        "a boolean" | "bool" => "true or false",
        "a map" | "map" => "an object",
        "a sequence" | "sequence" => "an array",
        "unit" => "null",
        _ => "",
    };
    if !word.is_empty() {
        return word.to_owned();
    }
    if exp.starts_with("struct ") || exp.starts_with("a map") {
        return "an object".into();
    }
    if exp.starts_with("a sequence") || exp.starts_with("a tuple") || exp.starts_with("tuple") {
        return "an array of the documented length".into();
    }
    if exp.starts_with("one of `") || exp.starts_with("variant identifier") {
        let allowed = names(exp);
        if !allowed.is_empty() {
            return format!("one of: {}", allowed.join(", "));
        }
    }
    // Texts written by Palisade's own visitors ("a duration such as 30s") are plain already;
    // anything naming a Rust type is not shown.
    let rusty = exp.contains(['`', '"', ':', '<']) || exp.starts_with("enum ");
    if !rusty && (exp.starts_with("a ") || exp.starts_with("an ")) {
        return exp.to_owned();
    }
    generic()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        count: u64,
        small: Option<u16>,
        ratio: Option<f64>,
        name: Option<String>,
        flag: Option<bool>,
        mode: Option<Mode>,
        items: Option<Vec<u32>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Enforce,
        Shadow,
    }

    /// The error of `json` as the server reports it, `path` being where serde stopped.
    fn error_of(json: &str, path: &[&str]) -> FieldError {
        let err = serde_json::from_str::<Body>(json).unwrap_err().to_string();
        let path: Vec<PathPart<'_>> = path.iter().map(|p| PathPart::Field(p)).collect();
        field_error(&path, &err)
    }

    #[test]
    fn messages_name_what_is_expected_and_never_the_input() {
        for (json, path, field, message) in [
            (
                r#"{"count": "MARKER1"}"#,
                &["count"][..],
                "count",
                "must be a whole number, 0 or more",
            ),
            (
                r#"{"count": 1, "small": 70000}"#,
                &["small"],
                "small",
                "must be a whole number from 0 to 65535",
            ),
            (
                r#"{"count": 1, "ratio": "MARKER2"}"#,
                &["ratio"],
                "ratio",
                "must be a number",
            ),
            (
                r#"{"count": 1, "name": 7}"#,
                &["name"],
                "name",
                "must be a string",
            ),
            (
                r#"{"count": 1, "flag": "MARKER3"}"#,
                &["flag"],
                "flag",
                "must be true or false",
            ),
            (
                r#"{"count": 1, "mode": "MARKER4"}"#,
                &["mode"],
                "mode",
                "must be one of: enforce, shadow",
            ),
            (
                r#"{"count": 1, "items": ["MARKER5"]}"#,
                &["items"],
                "items",
                "must be a whole number from 0 to 4294967295",
            ),
            (
                r#"{"count": 1, "MARKER6": 1}"#,
                &["MARKER6"],
                "",
                "unknown field; allowed fields: count, small, ratio, name, flag, mode, items",
            ),
            (r#"{"small": 1}"#, &[], "count", "is required"),
        ] {
            let e = error_of(json, path);
            assert!(!format!("{e:?}").contains("MARK"), "{json}: {e:?}");
            assert_eq!(e.message, message, "{json}");
            assert_eq!(e.field, field, "{json}");
        }
    }

    #[test]
    fn unknown_messages_are_not_passed_through() {
        let e = field_error(&[PathPart::Field("x")], "some custom text with MARKER");
        assert!(!e.message.contains("MARKER"));
        let e = field_error(
            &[PathPart::Field("x")],
            "unknown field `a`, expected `MARKER`, expected one of `b`, `c`",
        );
        assert_eq!(e.message, "unknown field; allowed fields: b, c");
        assert_eq!(
            render(&[PathPart::Field("headers"), PathPart::Field("X-Marker!")]),
            "headers.*"
        );
        assert_eq!(
            render(&[
                PathPart::Field("checks"),
                PathPart::Index(2),
                PathPart::Field("cost")
            ]),
            "checks[2].cost"
        );
    }
}
