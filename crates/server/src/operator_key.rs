//! The operator key: from the environment, a named file, or (outside production) bootstrapped.

use crate::config::{Config, Environment};
use palisade_core::secret::{random_token, sha256_hex};
use std::io::Write;
use std::path::Path;

/// Where the operator key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `PALISADE_OPERATOR_KEY`.
    Environment,
    /// `operator_key_file` or an existing `<data_dir>/operator.key`.
    File(std::path::PathBuf),
    /// Generated now and written to `<data_dir>/operator.key`.
    Generated(std::path::PathBuf),
}

/// Resolves the operator key and returns its SHA-256 hex (the key itself is not kept).
/// A generated key is printed once to stderr; nothing is printed in production.
pub fn resolve(cfg: &Config) -> Result<(String, KeySource), String> {
    if let Some(k) = &cfg.operator_key {
        return Ok((
            sha256_hex(k.expose().trim().as_bytes()),
            KeySource::Environment,
        ));
    }
    if let Some(f) = &cfg.operator_key_file {
        return read(f).map(|k| (sha256_hex(k.as_bytes()), KeySource::File(f.clone())));
    }
    if cfg.env == Environment::Production {
        return Err("production requires PALISADE_OPERATOR_KEY or operator_key_file".into());
    }
    let path = cfg.data_dir.join("operator.key");
    if path.exists() {
        return read(&path).map(|k| (sha256_hex(k.as_bytes()), KeySource::File(path)));
    }
    let key = format!("pal_op_{}", random_token(40));
    write_private(&path, &key).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!(
        "palisade: generated operator key (shown once, saved to {} with mode 0600):\n  {key}",
        path.display()
    );
    Ok((sha256_hex(key.as_bytes()), KeySource::Generated(path)))
}

/// The SHA-256 hex of the second operator key (`operator_key_next`, else
/// `operator_key_next_file`), accepted alongside the first during a rotation.
pub fn resolve_next(cfg: &Config) -> Result<Option<String>, String> {
    if let Some(k) = &cfg.operator_key_next {
        return Ok(Some(sha256_hex(k.expose().trim().as_bytes())));
    }
    cfg.operator_key_next_file
        .as_deref()
        .map(|f| read(f).map(|k| sha256_hex(k.as_bytes())))
        .transpose()
}

fn read(path: &Path) -> Result<String, String> {
    let k = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read operator key file {}: {e}", path.display()))?;
    let k = k.trim().to_owned();
    if k.len() < 32 {
        return Err(format!(
            "operator key in {} is shorter than 32 characters",
            path.display()
        ));
    }
    Ok(k)
}

fn write_private(path: &Path, key: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{key}")
}
