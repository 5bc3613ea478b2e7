//! The command line and configuration: check-config, production gates, file and env layers.

use crate::common::{
    assert_config_errors, assert_contains_all, check_config, check_config_file, palisade, spawn,
    spawn_in, temp_dir,
};

#[test]
fn check_config_reports_every_error_at_once() {
    let out = check_config(
        &temp_dir(),
        &[
            ("PALISADE_LISTEN", "not-an-address"),
            ("PALISADE_STORAGE__URL", "mysql://nope"),
            ("PALISADE_HTTP__REQUEST_TIMEOUT", "0s"),
            ("PALISADE_STORAGE__POOL_SIZE", "0"),
        ],
    );
    assert_config_errors(
        &out,
        &[
            "listen",
            "storage.url",
            "http.request_timeout",
            "storage.pool_size",
        ],
    );
}

/// Type errors of every layer, an invalid level and validation errors come in one run, each
/// naming its key in Palisade's words: no library internals, no value received.
#[test]
fn check_config_reports_type_and_value_errors_together_in_its_own_words() {
    let dir = temp_dir();
    std::fs::write(
        dir.join("palisade.toml"),
        "[http]\nbody_limit = \"SECRET-lots\"\nrequest_timeout = 5\n[storage]\npool_size = \"x\"\n",
    )
    .unwrap();
    let out = check_config(
        &dir,
        &[
            ("PALISADE_LOG__LEVEL", "verbose"),
            ("PALISADE_LISTEN", "not-an-address"),
            ("PALISADE_JOBS__POLL_INTERVAL", "SECRET-soon"),
        ],
    );
    let err = assert_config_errors(
        &out,
        &[
            "http.body_limit",
            "http.request_timeout",
            "storage.pool_size",
            "jobs.poll_interval",
            "log.level",
            "listen",
        ],
    );
    for internal in ["for key", "`", "default.", "SECRET"] {
        assert!(!err.contains(internal), "{internal:?} in:\n{err}");
    }
}

/// A file that is not TOML is reported by position (its line may hold a secret) beside the
/// errors of the other layers.
#[test]
fn check_config_reports_a_broken_file_by_position_with_the_other_errors() {
    let dir = temp_dir();
    std::fs::write(
        dir.join("palisade.toml"),
        "[storage]\nurl = postgres://u:SECRET@h/db\n",
    )
    .unwrap();
    let out = check_config(&dir, &[("PALISADE_LISTEN", "nowhere")]);
    let err = assert_config_errors(&out, &["palisade.toml: not valid TOML (line 2", "listen"]);
    assert!(!err.contains("SECRET"), "{err}");
}

#[test]
fn check_config_reads_file_and_env_layers() {
    let dir = temp_dir();
    std::fs::write(
        dir.join("palisade.toml"),
        "listen = \"127.0.0.1:9999\"\n[http]\nbody_limit = \"5MB\"\n",
    )
    .unwrap();
    let out = check_config(&dir, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("127.0.0.1:9999"), "{text}");
    let out = check_config(&dir, &[("PALISADE_LISTEN", "127.0.0.1:7777")]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("127.0.0.1:7777"),
        "env wins over file"
    );
    let bad = palisade()
        .args(["check-config", "--config", "missing.toml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let typo = dir.join("typo.toml");
    std::fs::write(&typo, "lisen = \"x\"\n").unwrap();
    let out = check_config_file(&typo);
    assert_eq!(out.status.code(), Some(2), "unknown keys are errors");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lisen: unknown key; this section takes: "),
        "{err}"
    );
    assert!(err.contains(" listen, "), "the known keys are named: {err}");
    let nested = dir.join("nested.toml");
    std::fs::write(&nested, "[http]\nlisten = \"x\"\n").unwrap();
    let err = String::from_utf8_lossy(&check_config_file(&nested).stderr).into_owned();
    assert!(
        err.contains("http.listen: unknown key; this section takes: "),
        "{err}"
    );
}

#[test]
fn production_refuses_to_generate_an_operator_key() {
    let dir = temp_dir();
    let out = palisade()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(&dir)
        .env("PALISADE_ENV", "production")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("operator_key"));
    assert!(!dir.join("palisade-data/operator.key").exists());
}

#[tokio::test]
async fn production_uses_the_key_from_the_environment_and_never_prints_it() {
    let key = "pal_op_0123456789abcdefghijklmnopqrstuvwxyzABCD";
    let p = spawn_in(
        temp_dir(),
        &[
            ("PALISADE_ENV", "production"),
            ("PALISADE_OPERATOR_KEY", key),
        ],
    );
    assert_eq!(p.api(key).get("/v1/tenants").await.status(), 200);
    assert!(!p.dir.join("palisade-data/operator.key").exists());
    assert!(!p.stderr().contains(key), "the key is never printed");
}

#[tokio::test]
async fn embedded_default_bootstraps_a_private_operator_key_once() {
    use std::os::unix::fs::PermissionsExt;
    let p = spawn(&[]);
    let path = p.dir.join("palisade-data/operator.key");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(p.dir.join("palisade-data/palisade.db").exists());
    let key = p.operator_key();
    assert_eq!(
        p.stderr().matches(&key).count(),
        1,
        "printed once, at generation"
    );
    let dir = p.dir.clone();
    drop(p);
    let again = spawn_in(dir, &[]);
    assert_eq!(again.operator_key(), key, "a restart keeps the key");
    assert!(
        !again.stderr().contains(&key),
        "and does not print it again"
    );
}

#[test]
fn version_prints() {
    let out = palisade().arg("version").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("palisade "));
}

#[test]
fn check_config_never_prints_credentials() {
    let env = [
        (
            "PALISADE_STORAGE__URL",
            "postgres://app:pgpass4ssw0rd@db.internal:5432/palisade?sslpassword=sslpass4ssw0rd",
        ),
        (
            "PALISADE_STORAGE__REDIS_URL",
            "redis://:redispass4ssw0rd@cache.internal:6379/0",
        ),
        (
            "PALISADE_OPERATOR_KEY",
            "oppass4ssw0rd-0123456789abcdefghijklmnop",
        ),
    ];
    let ok = check_config(&temp_dir(), &env);
    let failing: Vec<_> = env
        .iter()
        .copied()
        .chain([("PALISADE_LISTEN", "nowhere")])
        .collect();
    let bad = check_config(&temp_dir(), &failing);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(bad.status.code(), Some(2));
    let summary = String::from_utf8_lossy(&ok.stdout).into_owned();
    for out in [&ok, &bad] {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains("pass4ssw0rd"),
            "a credential was printed:\n{text}"
        );
    }
    assert_contains_all(
        &summary,
        &[
            "postgres at db.internal:5432",
            "redis at cache.internal:6379",
            "PALISADE_OPERATOR_KEY",
        ],
    );
}

#[test]
fn palisade_test_variables_are_ignored_in_any_case() {
    let out = check_config(
        &temp_dir(),
        &[("PALISADE_TEST_FOO", "1"), ("PALISADE_Test_Bar", "x")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn only_the_working_directory_palisade_toml_is_loaded_and_it_is_named() {
    let dir = temp_dir();
    std::fs::write(dir.join("palisade.toml"), "listen = \"127.0.0.1:9999\"\n").unwrap();
    let sub = dir.join("a").join("b");
    std::fs::create_dir_all(&sub).unwrap();
    let out = check_config(&sub, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("9999"),
        "a parent's palisade.toml is not loaded:\n{text}"
    );
    assert!(text.contains("file          none"), "{text}");
    let text = String::from_utf8_lossy(&check_config(&dir, &[]).stdout).into_owned();
    assert_contains_all(&text, &["127.0.0.1:9999", "file          ./palisade.toml"]);
    let p = spawn_in(dir, &[]);
    assert!(
        p.stderr()
            .contains("palisade: configuration file ./palisade.toml"),
        "{}",
        p.stderr()
    );
    let p = spawn_in(sub, &[]);
    assert!(
        p.stderr().contains("palisade: no configuration file"),
        "{}",
        p.stderr()
    );
}

#[test]
fn default_sizes_are_exact() {
    use palisade_server::config::{Config, Overrides};
    let cfg = Config::load(None, &Overrides::default()).unwrap();
    assert_eq!(
        cfg.http.body_limit.as_u64(),
        1_000_000,
        "1 MB, as documented"
    );
    assert_eq!(
        cfg.fetch.max_body.as_u64(),
        5_000_000,
        "5 MB, as documented"
    );
}
