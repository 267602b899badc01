//! What a function builds once per cold start and borrows on every request.

use crate::config::{Config, ConfigError};
use crate::store::Store;

/// Settings and clients shared by all requests of one function instance.
pub struct App {
    pub config: Config,
    pub store: Store,
}

impl App {
    /// Reads the configuration and builds the DynamoDB client.
    ///
    /// # Errors
    /// A configuration error naming the bad variable.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let store = Store::from_env(config.table_name.clone()).await;
        Ok(Self { config, store })
    }
}
