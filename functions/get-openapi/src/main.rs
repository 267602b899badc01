//! The OpenAPI 3.1 document of every route. Generated from infra/routes.tsv by infra/routes.py.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clientele::Error> {
    clientele::run_stateless(clientele::api::openapi::document).await
}
