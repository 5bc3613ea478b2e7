//! Schedules CRUD, bad input (field and position, never the value), tenant isolation, OpenAPI.

use crate::common::{problem, spawn};
use serde_json::{json, Value};

fn body(name: &str) -> Value {
    json!({"name": name, "cron": "0 */5 * * * *", "timezone": "Europe/Berlin",
           "queue": "reports", "kind": "report.build", "payload": {"n": 1}, "missed": "latest"})
}

#[tokio::test]
async fn schedules_crud_and_tenant_isolation() {
    let p = spawn(&[]);
    let a = p.tenant_api("cron-a").await;
    let b = p.tenant_api("cron-b").await;
    let r = a.post("/v1/cron/schedules", body("nightly")).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "nightly");
    assert_eq!(created["timezone"], "Europe/Berlin");
    assert_eq!(
        (created["missed"].clone(), created["max_catch_up"].clone()),
        (json!("latest"), json!(100))
    );
    let next = created["next_slot_ms"].as_i64().unwrap();
    assert_eq!(next % 300_000, 0, "a 5-minute slot");
    problem(
        a.post("/v1/cron/schedules", body("nightly")).await,
        409,
        "cron-schedule-exists",
    )
    .await;

    let got = a.get_json("/v1/cron/schedules/nightly").await;
    assert_eq!(got, created);
    let mut replaced = body("nightly");
    replaced["cron"] = json!("30 2 * * *");
    replaced["enabled"] = json!(false);
    let r = a.put("/v1/cron/schedules/nightly", replaced).await;
    assert_eq!(r.status(), 200);
    let up: Value = r.json().await.unwrap();
    assert_eq!(
        (up["cron"].clone(), up["enabled"].clone()),
        (json!("30 2 * * *"), json!(false))
    );
    assert!(
        up["next_slot_ms"].is_null(),
        "a paused schedule has no next slot"
    );

    a.post("/v1/cron/schedules", body("another")).await;
    let list = a.get_json("/v1/cron/schedules?limit=1").await;
    assert_eq!(list["items"][0]["name"], "another");
    let cursor = list["next"].as_str().unwrap().to_owned();
    let rest = a
        .get_json(&format!("/v1/cron/schedules?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(rest["items"][0]["name"], "nightly");
    assert!(rest["next"].is_null());

    // Another tenant: 404 everywhere, empty list, and its own schedule of the same name.
    problem(b.get("/v1/cron/schedules/nightly").await, 404, "not-found").await;
    problem(
        b.put("/v1/cron/schedules/nightly", body("nightly")).await,
        404,
        "not-found",
    )
    .await;
    problem(
        b.delete("/v1/cron/schedules/nightly").await,
        404,
        "not-found",
    )
    .await;
    assert_eq!(b.get_json("/v1/cron/schedules").await["items"], json!([]));
    assert_eq!(
        b.post("/v1/cron/schedules", body("nightly")).await.status(),
        201
    );

    assert_eq!(a.delete("/v1/cron/schedules/nightly").await.status(), 204);
    problem(a.get("/v1/cron/schedules/nightly").await, 404, "not-found").await;
    assert_eq!(b.get("/v1/cron/schedules/nightly").await.status(), 200);
}

#[tokio::test]
async fn bad_input_names_field_and_position_never_the_value() {
    let p = spawn(&[]);
    let a = p.tenant_api("cron-bad").await;
    let mut bad = body("bad");
    bad["cron"] = json!("0 0 77 * * *");
    bad["timezone"] = json!("Atlantis/Capital");
    bad["missed"] = json!("sometimes");
    bad["priority"] = json!(12);
    let b = problem(
        a.post("/v1/cron/schedules", bad).await,
        400,
        "invalid-request",
    )
    .await;
    let text = b.to_string();
    let field = |f: &str| {
        b["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["field"] == f)
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no error for {f}: {b}"))
    };
    assert!(
        field("cron").contains("field 3 (hour) at character 5"),
        "{b}"
    );
    field("timezone");
    field("missed");
    field("priority");
    for echoed in ["77", "Atlantis", "sometimes"] {
        assert!(
            !text.contains(echoed),
            "the value {echoed} is echoed: {text}"
        );
    }
    let mut short = body("short");
    short["cron"] = json!("* * *");
    let b = problem(
        a.post("/v1/cron/schedules", short).await,
        400,
        "invalid-request",
    )
    .await;
    assert!(b.to_string().contains("found 3 fields"), "{b}");
    let mut big = body("big");
    big["payload"] = json!("x".repeat(300 * 1024));
    let r = a.post("/v1/cron/schedules", big).await;
    assert!(matches!(r.status().as_u16(), 413), "{}", r.status());
    problem(
        a.get("/v1/cron/schedules/bad%20name").await,
        400,
        "invalid-request",
    )
    .await;
    let mut other = body("x");
    other["name"] = json!("y");
    problem(
        a.put("/v1/cron/schedules/x", other).await,
        400,
        "invalid-request",
    )
    .await;
    let mut unknown = body("u");
    unknown["color"] = json!("red");
    problem(
        a.post("/v1/cron/schedules", unknown).await,
        400,
        "invalid-request",
    )
    .await;
}

#[tokio::test]
async fn every_route_is_in_openapi() {
    let p = spawn(&[]);
    let doc = p.openapi().await;
    let paths = &doc["paths"];
    for m in ["post", "get"] {
        assert!(paths["/v1/cron/schedules"][m].is_object(), "{m} list");
    }
    for m in ["get", "put", "delete"] {
        assert!(paths["/v1/cron/schedules/{name}"][m].is_object(), "{m} one");
    }
}
