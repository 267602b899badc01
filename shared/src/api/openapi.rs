//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of every route (no credential).
//! It is generated with the routes from infra/routes.tsv (`make routes`).

use std::sync::OnceLock;

use serde_json::Value;

use crate::error::ApiError;
use crate::http::{Ctx, Reply};

const DOCUMENT: &str = include_str!("../openapi.json");

/// The document, parsed once.
pub(crate) fn parsed() -> &'static Value {
    static PARSED: OnceLock<Value> = OnceLock::new();
    PARSED.get_or_init(|| serde_json::from_str(DOCUMENT).unwrap_or_default())
}

/// # Errors
/// Never, once the document parses (a unit test makes sure it does).
pub async fn document(_cx: Ctx) -> Result<Reply, ApiError> {
    Ok(Reply::ok(parsed().clone()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_parses_and_names_every_generated_route() {
        let doc: serde_json::Value = serde_json::from_str(super::DOCUMENT).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/v1/clients/{clientId}"]["patch"].is_object());
    }
}
