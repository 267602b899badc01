//! Answers 405 for a method a route does not serve. Generated from infra/routes.tsv by infra/routes.py.

#[tokio::main]
async fn main() -> Result<(), clientele::Error> {
    clientele::run(clientele::api::method_not_allowed).await
}
