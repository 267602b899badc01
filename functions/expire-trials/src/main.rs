//! Write demo over ended trials. Generated from infra/routes.tsv by infra/routes.py.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clientele::Error> {
    clientele::jobs::run(clientele::jobs::expire_trials).await
}
