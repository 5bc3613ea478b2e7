//! Redaction against a corpus of positive and negative cases, and its properties under proptest.

use std::borrow::Cow;

use palisade_core::redact::redact;
use proptest::prelude::*;
use regex::Regex;

const CORPUS: &str = include_str!("redaction_corpus.txt");

/// One corpus line: the input and the exact output expected.
struct Case {
    line: usize,
    input: String,
    expected: String,
}

fn parse_corpus() -> (Vec<Case>, Vec<Case>) {
    let (mut positive, mut negative) = (Vec::new(), Vec::new());
    for (i, raw) in CORPUS.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        if let Some(rest) = raw.strip_prefix("+ ") {
            let mut parts = rest.splitn(3, " | ");
            let kind = parts.next().expect("kind").trim();
            let secret = parts
                .next()
                .unwrap_or_else(|| panic!("line {line}: no secret"));
            let context = parts.next().unwrap_or("{}");
            assert!(context.contains("{}"), "line {line}: context without {{}}");
            let input = context.replace("{}", secret);
            let expected = context.replace("{}", &format!("[REDACTED:{kind}]"));
            positive.push(Case {
                line,
                input,
                expected,
            });
        } else if let Some(text) = raw.strip_prefix("- | ") {
            let (input, expected) = (text.to_owned(), text.to_owned());
            negative.push(Case {
                line,
                input,
                expected,
            });
        } else {
            panic!("line {line}: malformed corpus line: {raw}");
        }
    }
    (positive, negative)
}

#[test]
fn corpus_is_large_enough() {
    let (positive, negative) = parse_corpus();
    assert!(positive.len() >= 40, "{} positive cases", positive.len());
    assert!(negative.len() >= 40, "{} negative cases", negative.len());
}

#[test]
fn corpus_cases_redact_exactly() {
    let (positive, negative) = parse_corpus();
    let mut failures = Vec::new();
    for case in positive.iter().chain(&negative) {
        let got = redact(&case.input);
        if got != case.expected {
            failures.push(format!(
                "line {}:\n   input    {}\n   expected {}\n   got      {}",
                case.line, case.input, case.expected, got
            ));
        } else if redact(&got) != got {
            failures.push(format!("line {}: not idempotent: {got}", case.line));
        }
    }
    for case in &negative {
        if matches!(redact(&case.input), Cow::Owned(_)) {
            failures.push(format!("line {}: unchanged but allocated", case.line));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A Luhn-valid number with a card network's first digit, written plain, in fours with spaces,
/// or in fours with dashes.
fn card_number() -> impl Strategy<Value = String> {
    (2u8..=6, prop::collection::vec(0u8..=9, 11..=17), 0..3usize).prop_map(
        |(first, body, style)| {
            let mut digits: Vec<u8> = std::iter::once(first).chain(body).collect();
            digits.push(luhn_check_digit(&digits));
            let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            match style {
                0 => text,
                n => {
                    let sep = if n == 1 { " " } else { "-" };
                    let groups: Vec<&str> = text
                        .as_bytes()
                        .chunks(4)
                        .map(|c| std::str::from_utf8(c).unwrap())
                        .collect();
                    groups.join(sep)
                }
            }
        },
    )
}

fn luhn_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let twice = d * 2;
                twice - if twice > 9 { 9 } else { 0 }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A secret or piece of personal data that the output must not contain.
#[derive(Debug, Clone)]
enum Piece {
    Secret(String),
    Plain(String),
}

fn piece() -> impl Strategy<Value = Piece> {
    let email = "[a-z0-9._%+-]{1,10}@[a-z0-9-]{1,8}\\.[a-z]{2,4}";
    let fragments = prop::sample::select(vec![
        "+",
        "-",
        "Bearer ",
        "basic ",
        "pal_",
        "eyJ",
        "@",
        "password=",
        "token: ",
        "(415)",
        "0",
        "+44",
        "[REDACTED:card]",
        "\\\"",
        "é",
        "_",
        "1732300000000",
        "2026-11-22",
    ]);
    prop_oneof![
        card_number().prop_map(Piece::Secret),
        email.prop_map(Piece::Secret),
        "[a-zA-Z]{1,10}".prop_map(Piece::Plain),
        any::<u64>().prop_map(|n| Piece::Plain(n.to_string())),
        (0u32..10_000).prop_map(|n| Piece::Plain(n.to_string())),
        "\\PC{0,16}".prop_map(Piece::Plain),
        fragments.prop_map(|s| Piece::Plain(s.to_owned())),
    ]
}

fn text_with_secrets() -> impl Strategy<Value = (String, Vec<String>)> {
    let separators = prop::sample::select(vec![" ", ", ", "\n", " | ", "-", "=", "\""]);
    prop::collection::vec((piece(), separators), 0..12).prop_map(|items| {
        let mut text = String::new();
        let mut secrets = Vec::new();
        for (piece, sep) in items {
            match piece {
                Piece::Secret(s) => {
                    text.push_str(&s);
                    secrets.push(s);
                }
                Piece::Plain(s) => text.push_str(&s),
            }
            text.push_str(sep);
        }
        (text, secrets)
    })
}

/// Card numbers left in `text`: spans of whole digit groups (joined by single spaces or dashes)
/// bounded by ASCII non-word characters, not after a `+` (a country code), with 13–19 digits,
/// a first digit of 2–6 and a valid Luhn sum. Written independently of the implementation.
fn cards_left(text: &str) -> Vec<String> {
    static RUN: std::sync::LazyLock<Regex> =
        std::sync::LazyLock::new(|| Regex::new(r"[0-9]+(?:[ -][0-9]+)*").unwrap());
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut found = Vec::new();
    for run in RUN.find_iter(text) {
        let before = text[..run.start()].chars().next_back();
        let after = text[run.end()..].chars().next();
        let groups: Vec<&str> = run.as_str().split([' ', '-']).collect();
        for first in 0..groups.len() {
            if first == 0 && (word(before) || before == Some('+')) {
                continue;
            }
            let mut digits = String::new();
            for (last, group) in groups.iter().enumerate().skip(first) {
                digits.push_str(group);
                let bounded = last + 1 < groups.len() || !word(after);
                if bounded && is_card(&digits) {
                    found.push(digits.clone());
                }
            }
        }
    }
    found
}

fn is_card(digits: &str) -> bool {
    let ds: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    (13..=19).contains(&ds.len())
        && (2..=6).contains(&ds[0])
        && luhn_check_digit(&ds[..ds.len() - 1]) == ds[ds.len() - 1]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics_and_is_idempotent(text in "\\PC{0,64}") {
        let once = redact(&text).into_owned();
        let twice = redact(&once);
        prop_assert_eq!(twice.as_ref(), once.as_str());
    }

    #[test]
    fn no_card_or_email_survives((text, secrets) in text_with_secrets()) {
        let once = redact(&text).into_owned();
        let twice = redact(&once);
        prop_assert_eq!(twice.as_ref(), once.as_str(), "not idempotent");
        for secret in &secrets {
            prop_assert!(!once.contains(secret.as_str()), "{secret:?} left in {once:?}");
        }
        let email = Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}").unwrap();
        prop_assert!(!email.is_match(&once), "email left in {once:?}");
        let cards = cards_left(&once);
        prop_assert!(cards.is_empty(), "cards {cards:?} left in {once:?}");
    }
}

#[test]
fn the_independent_card_finder_finds_cards() {
    assert_eq!(cards_left("pay 4111 1111 1111 1111."), ["4111111111111111"]);
    assert!(cards_left("pay 4111 1111 1111 1112").is_empty());
    assert!(cards_left("x4111111111111111").is_empty());
}
