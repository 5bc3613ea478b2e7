//! Every outbound HTTP call goes through palisade-fetch: no other crate builds a reqwest client in its src/.

use std::path::{Path, PathBuf};

/// Files under `crates/*/src` (crates/fetch excepted) that build a raw reqwest client.
fn raw_clients(crates: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(crates).unwrap().flatten() {
        if entry.file_name() == "fetch" {
            continue;
        }
        walk(&entry.path().join("src"), &mut found);
    }
    found
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, found);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            let raw = [
                "reqwest::Client",
                "ClientBuilder",
                "reqwest::get(",
                "reqwest::blocking",
                "hyper_util::client",
            ];
            if raw.iter().any(|r| text.contains(r)) {
                found.push(p);
            }
        }
    }
}

#[test]
fn no_crate_but_fetch_builds_an_http_client() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let found = raw_clients(crates);
    assert!(
        found.is_empty(),
        "build outbound clients with palisade_fetch::Fetcher: {found:?}"
    );
}

#[test]
fn the_lint_finds_a_raw_client() {
    let dir = std::env::temp_dir().join(format!("palisade-fetch-lint-{}", std::process::id()));
    let src = dir.join("webhooks").join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("deliver.rs"), "let c = reqwest::Client::new();").unwrap();
    let found = raw_clients(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1);
}
