//! Teammates, keyed by their (platform-wide unique) username, so that Basic
//! authentication is one `GetItem`.

use super::tx::Failed;
use super::{Guard, Store, Tx, to_item};
use crate::domain::teammate::Teammate;
use crate::error::{ApiError, Taken};

fn pk(username: &str) -> String {
    format!("TEAMMATE#{username}")
}

impl Store {
    /// A teammate by username.
    pub async fn teammate(&self, username: &str) -> Result<Option<Teammate>, ApiError> {
        self.get(pk(username), "#").await
    }

    /// Stores a new teammate.
    ///
    /// # Errors
    /// `username_taken` when the username is in use.
    pub async fn create_teammate(&self, t: &Teammate) -> Result<(), ApiError> {
        let mut tx = Tx::new();
        tx.create(self.table(), to_item(pk(t.username.as_str()), "#", t)?, Guard::Username);
        self.commit(tx).await.map_err(|e| match e {
            Failed::Condition(_) => ApiError::Taken { what: Taken::Username, value: t.username.as_str().to_owned() },
            Failed::Error(e) => e,
        })
    }
}
