//! List the event catalog (each type, what it means, the schema of its object). Generated from infra/routes.tsv by infra/routes.py.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clientele::Error> {
    clientele::run(clientele::api::events::event_types).await
}
