//! What a function builds once per cold start and borrows on every request.

use crate::config::{Config, ConfigError};
use crate::store::Store;

/// Settings and clients shared by all requests of one function instance.
pub struct App {
    pub config: Config,
    pub store: Store,
}

impl App {
    /// Reads the configuration and builds the DynamoDB client; with `SECRETS`, reads the
    /// function's secrets from Secrets Manager meanwhile, and keeps them fresh from then on.
    ///
    /// # Errors
    /// A configuration error naming the bad variable (or the secret that could not be read).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env()?;
        let Some(source) = config.secrets_source.clone() else {
            let store = Store::from_env(config.table_name.clone()).await;
            return Ok(Self { config, store });
        };
        let client = source.client(crate::live_secrets::env_credentials());
        let (read, store) = tokio::join!(source.load(&client, &config), Store::from_env(config.table_name.clone()));
        read?;
        source.keep_fresh(client, config.clone());
        Ok(Self { config, store })
    }
}
