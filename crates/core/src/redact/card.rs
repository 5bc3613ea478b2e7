//! Payment card numbers inside a run of digit groups: 13–19 digits, Luhn-valid, card-network prefix.

use std::ops::Range;

const MARKER: &str = "[REDACTED:card]";

/// Redacts the card numbers in `run` (digit groups joined by single spaces or dashes).
///
/// A card number is any span of whole groups with 13–19 digits that starts with a card network's
/// major industry identifier (2–6) and passes the Luhn check; so `12 4111 1111 1111 1111` loses
/// the card and keeps `12`. When the run follows a `+` its first group is a country code, never
/// the start of a card. `None` when the run holds no card.
pub(super) fn redact_run(run: &str, after_plus: bool) -> Option<String> {
    let groups = digit_groups(run);
    let mut spans: Vec<Range<usize>> = Vec::new();
    let mut first = usize::from(after_plus);
    while first < groups.len() {
        match longest_card_from(run, &groups, first) {
            Some(last) => {
                spans.push(groups[first].start..groups[last].end);
                first = last + 1;
            }
            None => first += 1,
        }
    }
    if spans.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(run.len());
    let mut copied = 0;
    for span in spans {
        out.push_str(&run[copied..span.start]);
        out.push_str(MARKER);
        copied = span.end;
    }
    out.push_str(&run[copied..]);
    Some(out)
}

/// The byte ranges of the maximal digit runs of `run`.
fn digit_groups(run: &str) -> Vec<Range<usize>> {
    let mut groups: Vec<Range<usize>> = Vec::new();
    for (i, b) in run.bytes().enumerate() {
        if !b.is_ascii_digit() {
            continue;
        }
        match groups.last_mut() {
            Some(last) if last.end == i => last.end = i + 1,
            _ => groups.push(i..i + 1),
        }
    }
    groups
}

/// The last group of the longest card number that starts at group `first`.
fn longest_card_from(run: &str, groups: &[Range<usize>], first: usize) -> Option<usize> {
    let mut digits = String::with_capacity(19);
    let mut found = None;
    for (last, group) in groups.iter().enumerate().skip(first) {
        digits.push_str(&run[group.clone()]);
        if digits.len() > 19 {
            break;
        }
        if digits.len() >= 13 && is_card_number(&digits) {
            found = Some(last);
        }
    }
    found
}

/// 13–19 ASCII digits, a card network's first digit (2–6: Mastercard, Amex, Diners, JCB, Visa,
/// Discover, UnionPay, Maestro), and a valid Luhn check digit.
pub(super) fn is_card_number(digits: &str) -> bool {
    (13..=19).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (b'2'..=b'6').contains(&digits.as_bytes()[0])
        && luhn_valid(digits)
}

/// The Luhn (mod 10) check over ASCII digits.
fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 {
                    twice - 9
                } else {
                    twice
                }
            } else {
                d
            }
        })
        .sum();
    // (Not `is_multiple_of`: the workspace's minimum Rust is 1.85.)
    let remainder = sum % 10;
    remainder == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_known_answers() {
        for valid in [
            "4111111111111111",
            "378282246310005",
            "5555555555554444",
            "6011111111111117",
        ] {
            assert!(is_card_number(valid), "{valid}");
        }
        for invalid in ["4111111111111112", "1234567812345678", "1732300000000"] {
            assert!(!is_card_number(invalid), "{invalid}");
        }
    }

    #[test]
    fn card_inside_a_longer_run() {
        assert_eq!(
            redact_run("12 4111 1111 1111 1111", false).unwrap(),
            "12 [REDACTED:card]"
        );
        assert_eq!(
            redact_run("1 4111-1111-1111-1111", true).unwrap(),
            "1 [REDACTED:card]"
        );
        assert!(redact_run("4111 1111 1111 1112", false).is_none());
    }
}
