//! Console links (API.md §5b): each kept under the hash of its token, never the token,
//! until it is exchanged (deleted) or its time to live sweeps it.


use super::events::add_event;
use super::tx::Failed;
use super::{Guard, Store, Tx, key, to_item, took_place};
use crate::domain::console_link::ConsoleLink;
use crate::error::ApiError;
use crate::events::Event;

fn link_pk(hash: &str) -> String {
    format!("CONSOLELINK#{hash}")
}

impl Store {
    /// Stores a new link under its token's hash, with its `console_link.created` event.
    pub async fn create_console_link(&self, link: &ConsoleLink, hash: &str, event: &Event) -> Result<(), ApiError> {
        let t = self.table();
        let mut tx = Tx::new();
        tx.create(t, to_item(link_pk(hash), "#", link)?, Guard::Secret);
        add_event(&mut tx, t, event)?;
        self.commit(tx).await.map_err(|e| match e {
            Failed::Error(e) => e,
            Failed::Condition(g) => ApiError::internal(format!("console link create guard {g:?} failed")),
        })
    }

    /// The link whose token hashes to `hash`, if it is still unused (expired or not: the
    /// caller judges that).
    pub async fn console_link(&self, hash: &str) -> Result<Option<ConsoleLink>, ApiError> {
        self.get(link_pk(hash), "#").await
    }

    /// Takes the link whose token hashes to `hash` (deletes it): true for the one take,
    /// of any number racing, that found it; false for the others and every later one.
    pub async fn take_console_link(&self, hash: &str) -> Result<bool, ApiError> {
        let taken = self
            .db
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(link_pk(hash), "#")))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await;
        took_place("DeleteItem", taken)
    }
}
