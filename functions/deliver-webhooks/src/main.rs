//! Deliver each new event to its webhooks. Generated from infra/routes.tsv by infra/routes.py.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clientele::Error> {
    clientele::webhooks::run_delivery().await
}
