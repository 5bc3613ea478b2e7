//! The redaction rules: one compiled regex and one replacement function per kind of data.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::card;

/// What a text must contain for a rule to possibly match: checked before running the regex.
#[derive(Clone, Copy)]
enum Needs {
    /// A `:` or `=`.
    Assignment,
    /// This exact text.
    Literal(&'static str),
    /// An `@`.
    At,
    /// At least this many ASCII digits.
    Digits(usize),
    /// Nothing cheaper than the regex itself.
    Regex,
}

/// One pass over a text counting what [`Needs`] asks about.
pub(super) struct Summary {
    digits: usize,
    at: bool,
    assignment: bool,
}

impl Summary {
    pub(super) fn of(text: &str) -> Self {
        let mut summary = Summary {
            digits: 0,
            at: false,
            assignment: false,
        };
        for b in text.bytes() {
            match b {
                b'0'..=b'9' => summary.digits += 1,
                b'@' => summary.at = true,
                b':' | b'=' => summary.assignment = true,
                _ => {}
            }
        }
        summary
    }
}

/// One kind of sensitive data: where it may be, and what replaces it.
pub(super) struct Rule {
    needs: Needs,
    re: Regex,
    /// The replacement of one match, or `None` to keep the match as it is.
    replace: fn(&Captures<'_>) -> Option<String>,
}

impl Rule {
    fn new(needs: Needs, pattern: &str, replace: fn(&Captures<'_>) -> Option<String>) -> Self {
        let re = Regex::new(pattern).expect("redaction patterns are valid");
        Rule { needs, re, replace }
    }

    /// The text with this rule applied, or `None` when nothing was replaced. `summary` is
    /// [`Summary::of`] `text`.
    pub(super) fn apply(&self, text: &str, summary: &Summary) -> Option<String> {
        let possible = match self.needs {
            Needs::Assignment => summary.assignment,
            Needs::Literal(literal) => text.contains(literal),
            Needs::At => summary.at,
            Needs::Digits(n) => summary.digits >= n,
            Needs::Regex => true,
        };
        if !possible {
            return None;
        }
        let mut out: Option<String> = None;
        let mut copied = 0;
        for caps in self.re.captures_iter(text) {
            let Some(replacement) = (self.replace)(&caps) else {
                continue;
            };
            let whole = caps.get(0).expect("group 0 always matches");
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..whole.start()]);
            out.push_str(&replacement);
            copied = whole.end();
        }
        out.map(|mut out| {
            out.push_str(&text[copied..]);
            out
        })
    }
}

/// All rules, in the order they run: names, keys and tokens first (they contain digits and `@`),
/// then emails, cards and phone numbers.
pub(super) fn all() -> &'static [Rule] {
    static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
        vec![
            Rule::new(Needs::Assignment, COOKIE_HEADER, |c| keep_name(c, "secret")),
            Rule::new(Needs::Assignment, SECRET_ASSIGNMENT, secret_assignment),
            Rule::new(Needs::Literal("pal_"), PALISADE_KEY, |_| {
                Some(marker("api_key"))
            }),
            Rule::new(Needs::Regex, PROVIDER_KEY, |_| Some(marker("api_key"))),
            Rule::new(
                Needs::Literal("PRIVATE KEY-----"),
                PRIVATE_KEY_BLOCK,
                |_| Some(marker("private_key")),
            ),
            Rule::new(Needs::Literal("eyJ"), JWT, |_| Some(marker("jwt"))),
            Rule::new(Needs::Regex, BEARER, bearer),
            Rule::new(Needs::Regex, BASIC, basic),
            Rule::new(Needs::At, EMAIL, |_| Some(marker("email"))),
            Rule::new(Needs::Digits(13), CARD, card),
            Rule::new(Needs::Digits(7), PHONE, phone),
        ]
    });
    &RULES
}

fn marker(kind: &str) -> String {
    format!("[REDACTED:{kind}]")
}

/// Keeps the `name` and `sep` groups and replaces `val`.
fn keep_name(caps: &Captures<'_>, kind: &str) -> Option<String> {
    Some(format!("{}{}{}", &caps["name"], &caps["sep"], marker(kind)))
}

/// A UUID: left alone by the numeric rules even when its groups are all digits.
macro_rules! uuid {
    () => {
        r"(?i:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    };
}

/// A raw `Cookie:` / `Set-Cookie:` header line: the whole value up to the end of the line.
const COOKIE_HEADER: &str =
    r#"(?i)(?P<name>(?-u:\b)(?:set-)?cookie2?)(?P<sep>[ \t]*:[ \t]*)[^\s"\[][^\r\n"]*"#;

/// `name: value` / `name=value` where the name says secret (as [`super::is_sensitive_field`]).
/// Values: an auth scheme and its credential, `Some("…")`, a quoted string, an escaped quoted
/// string, or a bare word.
const SECRET_ASSIGNMENT: &str = concat!(
    r#"(?i)(?P<name>[a-z0-9_.-]*(?:secret|password|passwd|token|authorization|cookie|api[_-]?key|private[_-]?key|credential)[a-z0-9_.-]*)"#,
    r#"(?P<sep>\\?["']?[ \t]*[:=][ \t]*)"#,
    r#"(?:(?:bearer|basic|digest|token|negotiate|ntlm)[ \t]+[^\s,;\[\]"'\\]+"#,
    r#"|Some\("(?:[^"\\]|\\.)*"\)|"(?:[^"\\]|\\.)*"|\\"(?:[^"\\]|\\[^"])*\\"|'[^'\n]*'"#,
    r#"|(?P<bare>["']?[^\s,;&}\)\]\["'\\][^\s,;&}\)\]"'\\]*))"#,
);

fn secret_assignment(caps: &Captures<'_>) -> Option<String> {
    // `error: token: expired` is prose, not a secret: after `: ` a bare value must look like
    // one (a digit or a symbol in it, or long).
    if let Some(bare) = caps.name("bare") {
        let spaced = caps["sep"].ends_with([' ', '\t']);
        let word = bare.as_str();
        if spaced && word.len() < 16 && word.bytes().all(|b| b.is_ascii_alphabetic()) {
            return None;
        }
    }
    keep_name(caps, "secret")
}

/// A Palisade API key: `pal_` and at least 16 key characters (`pal_key_<id>_<secret>`).
const PALISADE_KEY: &str = r"(?-u:\b)pal_[A-Za-z0-9_]{16,}";

/// Prefixed secrets and keys of common providers, each with enough characters after its prefix
/// to be a real key rather than a word:
/// Stripe secret and restricted keys (`sk_live_`, `sk_test_`, `rk_live_`, `rk_test_`);
/// webhook signing secrets of Stripe and Standard Webhooks (`whsec_`); GitHub tokens
/// (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`); Slack tokens (`xoxb-`, `xoxp-`,
/// `xoxa-`, `xoxr-`, `xoxs-`, `xapp-`) and incoming-webhook URLs; AWS access key ids (`AKIA`,
/// `ASIA`, `ABIA`, `ACCA` + 16); Google API keys (`AIza` + 35); OpenAI/Anthropic style `sk-…`;
/// GitLab (`glpat-`), npm (`npm_`), SendGrid (`SG.x.y`), Shopify (`shpat_`, `shpss_`, …),
/// Twilio API key sids (`SK` + 32 hex), PyPI (`pypi-`) and Hugging Face (`hf_`) tokens.
const PROVIDER_KEY: &str = concat!(
    r"(?-u:\b)(?:",
    r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}",
    r"|whsec_[A-Za-z0-9+/=_-]{16,}",
    r"|gh[pousr]_[A-Za-z0-9]{30,}",
    r"|github_pat_[A-Za-z0-9_]{30,}",
    r"|xox[abposr]-[A-Za-z0-9-]{10,}",
    r"|xapp-[0-9]+-[A-Za-z0-9-]{10,}",
    r"|hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}",
    r"|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}",
    r"|AIza[0-9A-Za-z_-]{35}",
    r"|sk-[A-Za-z0-9_-]{20,}",
    r"|glpat-[A-Za-z0-9_-]{20,}",
    r"|npm_[A-Za-z0-9]{36}",
    r"|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
    r"|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
    r"|SK[0-9a-fA-F]{32}",
    r"|pypi-[A-Za-z0-9_-]{40,}",
    r"|hf_[A-Za-z0-9]{30,}",
    r")",
);

/// A PEM private key block, from `-----BEGIN … PRIVATE KEY-----` to its `END` line (or to the
/// end of the text when cut).
const PRIVATE_KEY_BLOCK: &str =
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z ]*PRIVATE KEY-----|\z)";

/// A JWT (JWS compact form): three base64url segments, the header starting `eyJ` (`{"`).
const JWT: &str = r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*";

/// `Bearer <token>`.
const BEARER: &str = r"(?i)(?-u:\b)(?P<scheme>bearer)[ \t]+(?P<token>[A-Za-z0-9._~+/-]+=*)";

fn bearer(caps: &Captures<'_>) -> Option<String> {
    let token = &caps["token"];
    let symbol = |b: u8| b.is_ascii_digit() || b"-._~+/=".contains(&b);
    let opaque = token.len() >= 20 || (token.len() >= 8 && token.bytes().any(symbol));
    opaque.then(|| format!("{} {}", &caps["scheme"], marker("bearer")))
}

/// `Basic <base64 of user:password>`.
const BASIC: &str = r"(?i)(?-u:\b)(?P<scheme>basic)[ \t]+(?P<token>[A-Za-z0-9+/]{4,}={0,2})";

fn basic(caps: &Captures<'_>) -> Option<String> {
    // Only real credentials: printable text with a colon once decoded ("Basic plan" stays).
    let decoded = base64_decode(&caps["token"])?;
    let printable = decoded.iter().all(|b| (0x20..0x7f).contains(b));
    (printable && decoded.contains(&b':'))
        .then(|| format!("{} {}", &caps["scheme"], marker("basic")))
}

/// Standard-alphabet base64 with optional padding; `None` if malformed.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let sextet = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let body = text.trim_end_matches('=');
    if body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | sextet(c)?;
        }
        let bytes = (acc << (6 * (4 - chunk.len()))).to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// An email address (Unicode letters allowed; the top-level domain is letters).
const EMAIL: &str = r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.\p{L}{2,}";

/// A run of 13+ digits with single spaces or dashes between them; see [`card::redact_run`].
const CARD: &str = concat!(
    r"(?P<uuid>",
    uuid!(),
    r")|(?P<plus>\+)?(?-u:\b)(?P<run>[0-9](?:[ -]?[0-9]){12,})(?-u:\b)",
);

fn card(caps: &Captures<'_>) -> Option<String> {
    let run = caps.name("run")?.as_str();
    let redacted = card::redact_run(run, caps.name("plus").is_some())?;
    Some(format!(
        "{}{redacted}",
        caps.name("plus").map_or("", |m| m.as_str())
    ))
}

/// Phone numbers: E.164, international with spaces, North American, and trunk-`0` national
/// formats (French pairs, UK groups, `0AAA BBBBBBB`, ten digits from `0[1-9]`).
const PHONE: &str = concat!(
    r"(?P<uuid>",
    uuid!(),
    r")",
    r"|\+[1-9][0-9]{6,14}(?-u:\b)",
    r"|(?P<intl>\+[1-9][0-9]{0,2}[ .-](?:\(0\) ?)?\(?[0-9]{1,4}\)?(?:[ .-][0-9]{2,8}){1,5})(?-u:\b)",
    r"|(?:(?-u:\b)1[ .-]?)?(?:\([2-9][0-9]{2}\) ?|(?-u:\b)[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}(?-u:\b)",
    r"|(?-u:\b)0[1-9](?:(?: [0-9]{2}){4}|(?:\.[0-9]{2}){4}|(?:-[0-9]{2}){4})(?-u:\b)",
    r"|(?-u:\b)0[1-9][0-9]{1,3}[ -][0-9]{3,4}[ -][0-9]{3,4}(?-u:\b)",
    r"|(?P<trunk>(?-u:\b)0[1-9][0-9]{1,3}[ /-][0-9]{6,8})(?-u:\b)",
    r"|(?-u:\b)0[1-9][0-9]{8}(?-u:\b)",
);

fn phone(caps: &Captures<'_>) -> Option<String> {
    let digits = |s: &str| s.bytes().filter(u8::is_ascii_digit).count();
    if caps.name("uuid").is_some() {
        return None;
    }
    if let Some(intl) = caps.name("intl") {
        let n = digits(&intl.as_str().replace("(0)", ""));
        if !(8..=15).contains(&n) {
            return None;
        }
    }
    if let Some(trunk) = caps.name("trunk") {
        if !(10..=11).contains(&digits(trunk.as_str())) {
            return None;
        }
    }
    Some(marker("phone"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decoding() {
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode("YTpi").unwrap(), b"a:b");
        assert_eq!(base64_decode("YTpiYw==").unwrap(), b"a:bc");
        assert_eq!(base64_decode("YTpiYw").unwrap(), b"a:bc");
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("ab-c").is_none());
    }
}
