//! OpenAPI building blocks shared by every route: the problem schema and common error responses.

use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{ContentBuilder, RefOr, Response};
use utoipa::{IntoResponses, ToSchema};

/// An RFC 9457 problem as Palisade sends it.
#[derive(Serialize, ToSchema)]
pub struct ProblemDoc {
    /// `urn:palisade:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: String,
    /// Human explanation.
    pub detail: String,
    /// Id of the request, to quote when reporting.
    pub request_id: Option<String>,
    /// Invalid fields (bad input only).
    pub errors: Option<Vec<FieldErrorDoc>>,
}

/// One invalid field.
#[derive(Serialize, ToSchema)]
pub struct FieldErrorDoc {
    /// Field name.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn problem(desc: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(desc)
        .content(
            palisade_core::problem::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ProblemDoc",
                ))))
                .build(),
        )
        .build()
        .into()
}

/// The errors any authenticated `/v1` route can answer.
pub struct CommonErrors;

impl IntoResponses for CommonErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            (
                "400",
                "Invalid input (code names the problem; `errors` lists fields)",
            ),
            ("401", "Missing or invalid key (`unauthenticated`)"),
            ("403", "Key of the wrong kind (`forbidden`)"),
            ("404", "No such resource, or another tenant's (`not-found`)"),
            ("413", "Body over the limit (`payload-too-large`)"),
            ("500", "Internal error (`internal`), detail only in the log"),
            (
                "503",
                "Store unavailable or saturated (`store-unavailable`), with Retry-After",
            ),
        ]
        .into_iter()
        .map(|(s, d)| (s.to_owned(), problem(d)))
        .collect()
    }
}

/// `doc` with a 415 answer on every operation that takes a JSON body (and only JSON).
pub fn with_media_type_errors(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in ops.into_iter().flatten() {
            let json = op.request_body.as_ref().is_some_and(|b| {
                b.content.len() == 1 && b.content.contains_key("application/json")
            });
            if json {
                let r = problem("Body is not application/json (`unsupported-media-type`)");
                op.responses.responses.entry("415".into()).or_insert(r);
            }
        }
    }
    doc
}
