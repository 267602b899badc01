//! Mint a console link for a partner. Generated from infra/routes.tsv by infra/routes.py.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clientele::Error> {
    clientele::run(clientele::api::console_links::create).await
}
