//! Make a client live. Generated from infra/routes.tsv by infra/routes.py.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clientele::Error> {
    clientele::run(clientele::api::lifecycle::make_live).await
}
