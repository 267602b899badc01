//! Console links (API.md §5b): each kept under the hash of its token, never the token,
//! until it is exchanged (deleted) or its time to live sweeps it.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::ReturnValue;

use super::events::add_event;
use super::tx::Failed;
use super::{Guard, Store, Tx, from_item, key, sdk_error, to_item};
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

    /// Takes the link whose token hashes to `hash`: deletes it and returns it as it was.
    /// Of any number of concurrent takes, one gets it; the others (and every later one)
    /// get `None`. It is returned whether or not it has expired: the caller judges that.
    pub async fn take_console_link(&self, hash: &str) -> Result<Option<ConsoleLink>, ApiError> {
        let taken = self
            .db
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(link_pk(hash), "#")))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match taken {
            Ok(out) => out.attributes.map(from_item).transpose(),
            Err(e) if matches!(e.as_service_error(), Some(DeleteItemError::ConditionalCheckFailedException(_))) => Ok(None),
            Err(e) => Err(sdk_error("DeleteItem", e)),
        }
    }
}
