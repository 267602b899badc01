//! Retry webhook deliveries that are due. Generated from infra/routes.tsv by infra/routes.py.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clientele::Error> {
    clientele::jobs::run(clientele::jobs::retry_webhooks).await
}
