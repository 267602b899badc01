//! Answers what no route takes (405 for a method a path does not serve, 404 for an unknown path). Generated from infra/routes.tsv by infra/routes.py.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clientele::Error> {
    clientele::run_stateless(clientele::api::route_not_found).await
}
