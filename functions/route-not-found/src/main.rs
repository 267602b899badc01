//! Answers 404 for a path no route serves. Generated from infra/routes.tsv by infra/routes.py.

#[tokio::main]
async fn main() -> Result<(), clientele::Error> {
    clientele::run(clientele::api::route_not_found).await
}
