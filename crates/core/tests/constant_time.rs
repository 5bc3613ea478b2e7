//! Constant time everywhere: fails when a secret, token, code, MAC or signature is compared
//! with `==`, `!=` or `.eq(` anywhere in the workspace's Rust sources.
//!
//! Secrets must be compared with `palisade_core::secret::secret_eq` (lengths first, then
//! constant time). The check is lexical: an operand of `==`/`!=` (or the receiver or argument
//! of `.eq(`) whose identifiers name a secret (`secret`, `token`, `signature`/`sig`, `mac`/`hmac`,
//! `digest`, `password`, `otp`, `code`, `code_hash`, `key_hash`) fails it, unless the operand
//! is a length, count or problem code (`.len()`, `.is_empty()`, `.code()`), or the line
//! carries a `// ct-ok: <why>` comment saying why the value is not a secret (a fencing token
//! is a public counter, say). Lexical, so it misses a secret held under another name: name
//! secrets as secrets.

use regex::Regex;
use std::path::{Path, PathBuf};

/// The compiled patterns of the check.
struct Scanner {
    /// The words that mark an identifier as naming a secret.
    word: Regex,
    literal: Regex,
    ident: Regex,
    measured: Regex,
    left_end: Regex,
    right_end: Regex,
    op: Regex,
    eq_call: Regex,
}

impl Scanner {
    fn new() -> Self {
        let r = |p: &str| Regex::new(p).unwrap();
        Self {
            word: r(
                r"(?i)(secret|signature|(^|_)sigs?($|_)|hmac|(^|_)macs?($|_)|passw|digest|token|code_hash|key_hash|(^|_)otp|(^|_)code($|_))",
            ),
            literal: r(r#""(\\.|[^"\\])*"|'(\\.|[^'\\])'"#),
            ident: r(r"[A-Za-z_][A-Za-z0-9_]*"),
            measured: r(r"\.(len|is_empty|count|status|kind|as_u16|code)\(\)$"),
            left_end: r(r"[{,;]|&&|\|\||\bif\b|\breturn\b|=>|\blet\b|[^=!<>]=[^=]"),
            right_end: r(r"[{,;]|&&|\|\||=>"),
            op: r(r"==|!="),
            eq_call: r(r"([A-Za-z0-9_.]+)\.eq\(([^)]*)\)"),
        }
    }

    /// `line` without string and char literals and without its `//` comment.
    fn code_of(&self, line: &str) -> String {
        let line = self.literal.replace_all(line, "\"\"");
        line.split("//").next().unwrap_or("").to_owned()
    }

    /// True when `operand` names a secret and is not a length or count.
    fn names_secret(&self, operand: &str) -> bool {
        let o = operand.trim().trim_end_matches([')', ' ']);
        let o = if o.ends_with('(') {
            format!("{o})")
        } else {
            o.to_owned()
        };
        if self.measured.is_match(&o) {
            return false;
        }
        self.ident
            .find_iter(&o)
            .any(|m| self.word.is_match(m.as_str()))
    }

    /// True when a comparison of `line` has an operand naming a secret.
    fn offending(&self, line: &str) -> bool {
        if line.contains("// ct-ok:") {
            return false;
        }
        let code = self.code_of(line);
        let by_op = self.op.find_iter(&code).any(|m| {
            let before = &code[..m.start()];
            let left = self.left_end.split(before).last().unwrap_or(before);
            let after = &code[m.end()..];
            let right = self.right_end.split(after).next().unwrap_or(after);
            self.names_secret(left) || self.names_secret(right)
        });
        by_op
            || self
                .eq_call
                .captures_iter(&code)
                .any(|c| self.names_secret(&c[1]) || self.names_secret(&c[2]))
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if p.is_dir() && name != "target" && name != "node_modules" {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_secret_is_compared_with_eq_in_the_workspace() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["crates", "examples", "fuzz/fuzz_targets"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(
        files.len() > 100,
        "the scan sees the workspace ({} files)",
        files.len()
    );
    let scan = Scanner::new();
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in text.lines().enumerate() {
            if scan.offending(line) {
                found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "compare secrets with palisade_core::secret::secret_eq (or mark a non-secret with \
         `// ct-ok: <why>`):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_catches_what_it_should_and_only_that() {
    let scan = Scanner::new();
    let bad = [
        "if provided_secret == stored_secret {",
        "    return sig != expected;",
        "let ok = row.key_hash == presented;",
        "if mac.as_slice() == header_bytes {",
        "assert!(code == \"123456\");",
        "if token.eq(&other) {",
        "if computed_hmac != given {",
    ];
    for l in bad {
        assert!(scan.offending(l), "should flag: {l}");
    }
    let fine = [
        "if token.len() == 43 {",
        "e[\"detail\"][\"reason\"] == \"wrong_secret\"",
        "if state == JobState::Running {",
        "if self.lease_token == token { // ct-ok: fencing token, a public counter",
        "let n = a == b;",
        "if secret_eq(a.as_bytes(), b.as_bytes()) {",
        "matches!(x, Some(y) if y.is_empty() == secret.is_empty())",
    ];
    for l in fine {
        assert!(!scan.offending(l), "should pass: {l}");
    }
}
