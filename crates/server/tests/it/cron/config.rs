//! Schedules declared in the configuration: every bad key named at once; created at start.

use crate::common::{assert_config_errors, check_config_file, spawn_in, temp_dir};

#[test]
fn check_config_names_every_bad_schedule_key_never_the_value() {
    let dir = temp_dir();
    let file = dir.join("palisade.toml");
    std::fs::write(
        &file,
        r#"
[cron]
interval = "5s"

[[cron.schedules]]
tenant = "no tenant!"
name = "nightly"
cron = "0 61 * * *"
timezone = "Atlantis/Capital"
queue = "reports"
kind = "report"
missed = "sometimes"
"#,
    )
    .unwrap();
    let err = assert_config_errors(
        &check_config_file(&file),
        &[
            "cron.interval: must be between 100ms and 1s",
            "cron.schedules[0].tenant",
            "cron.schedules[0].cron: field 2 (hour) at character 3",
            "cron.schedules[0].timezone",
            "cron.schedules[0].missed",
        ],
    );
    for echoed in ["61", "Atlantis", "sometimes", "no tenant!"] {
        assert!(!err.contains(echoed), "{echoed} echoed: {err}");
    }
}

#[tokio::test]
async fn declared_schedule_is_created_at_start_and_updated_on_change() {
    let dir = temp_dir();
    let p = spawn_in(dir.clone(), &[]);
    let (tenant, key) = p.tenant_with_key("cron-declared").await;
    drop(p);
    let toml = |cron: &str| {
        format!(
            "[[cron.schedules]]\ntenant = \"{tenant}\"\nname = \"nightly\"\ncron = \"{cron}\"\n\
             timezone = \"Europe/Berlin\"\nqueue = \"reports\"\nkind = \"report\"\n\
             payload = {{ format = \"pdf\" }}\nmissed = \"latest\"\n"
        )
    };
    std::fs::write(dir.join("palisade.toml"), toml("0 30 2 * * *")).unwrap();
    let p = spawn_in(dir.clone(), &[]);
    let got = p.api(&key).get_json("/v1/cron/schedules/nightly").await;
    assert_eq!(got["cron"], "0 30 2 * * *");
    assert_eq!(
        (got["timezone"].as_str(), got["missed"].as_str()),
        (Some("Europe/Berlin"), Some("latest"))
    );
    assert_eq!(got["payload"]["format"], "pdf");
    drop(p);
    std::fs::write(dir.join("palisade.toml"), toml("0 0 3 * * *")).unwrap();
    let p = spawn_in(dir, &[]);
    let got = p.api(&key).get_json("/v1/cron/schedules/nightly").await;
    assert_eq!(got["cron"], "0 0 3 * * *");
}
