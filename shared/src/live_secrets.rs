//! The deployment's secrets, read from AWS Secrets Manager and kept fresh.
//!
//! On AWS no secret is in a function's configuration. A function's `SECRETS` names the
//! secrets it may read (`auth`, `webhook`, or `none`: infra/routes.py grants them, and
//! its IAM role may read exactly those); each is a JSON document named
//! `<SECRETS_NAME>/<secret>` in Secrets Manager. They are read at cold start, beside the
//! rest of the start-up ([`crate::app::App::from_env`]), and again every
//! `SECRETS_REFRESH_SECONDS` (default 300), so a rotation reaches running functions within
//! minutes. A failed refresh keeps the values it has and tries again at the next one.
//! Locally the same code reads from `scripts/secrets_server.py` at
//! `AWS_ENDPOINT_URL_SECRETSMANAGER`.
//!
//! A secret the function is not granted reads as a random value of this process (never
//! one that verifies a token, matches the admin key or opens a cursor), and says so
//! once in the log (`secret_not_granted`): a missing grant fails closed and shows up in
//! the tests, and never crashes a function that an unknown request reached.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use aws_sdk_secretsmanager::config::SharedCredentialsProvider;

use crate::config::{Config, ConfigError};

/// Each secret in Secrets Manager and its keys: (JSON key, the setting it holds).
pub const SECRETS: &[(&str, &[(&str, &str)])] = &[
    ("auth", &[("cursorSecret", "CURSOR_SECRET"), ("jwtSecret", "JWT_SECRET"), ("adminApiKeySha256", "ADMIN_API_KEY_SHA256")]),
    ("webhook", &[("webhookKey", "WEBHOOK_KEY")]),
];

const DEFAULT_REFRESH: Duration = Duration::from_secs(300);

/// One secret setting: the value it holds now, which a refresh may replace.
///
/// It dereferences to the value (`&[u8]`, `&str`), so code reads it like the plain value
/// it was. Each distinct value stays allocated for the life of the process (that is what
/// lets a reference to it outlive a refresh); a rotation adds one small allocation.
pub struct Secret<T: ?Sized + 'static> {
    var: &'static str,
    slot: Arc<RwLock<Slot<T>>>,
    warned: Arc<AtomicBool>,
}

struct Slot<T: ?Sized + 'static> {
    value: &'static T,
    granted: bool,
}

impl<T: ?Sized + 'static> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Self { var: self.var, slot: self.slot.clone(), warned: self.warned.clone() }
    }
}

impl<T: ?Sized + 'static> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}, redacted)", self.var)
    }
}

impl<T: ?Sized + PartialEq + 'static> Secret<T> {
    /// A setting holding `value`.
    pub(crate) fn granted(var: &'static str, value: Box<T>) -> Self {
        Self { var, slot: Arc::new(RwLock::new(Slot { value: Box::leak(value), granted: true })), warned: Arc::default() }
    }

    /// A setting not read yet (or not granted): a random value until [`Secret::set`].
    pub(crate) fn pending(var: &'static str, placeholder: Box<T>) -> Self {
        Self { var, slot: Arc::new(RwLock::new(Slot { value: Box::leak(placeholder), granted: false })), warned: Arc::default() }
    }

    /// Holds `value` from now on; whether it differs from the value it held.
    pub(crate) fn set(&self, value: Box<T>) -> bool {
        let mut slot = self.slot.write().unwrap_or_else(PoisonError::into_inner);
        if slot.granted && *slot.value == *value {
            return false;
        }
        let changed = slot.granted;
        *slot = Slot { value: Box::leak(value), granted: true };
        changed
    }

    /// Whether the function holds this secret (it was granted and read).
    pub fn is_granted(&self) -> bool {
        self.slot.read().unwrap_or_else(PoisonError::into_inner).granted
    }

    /// The variable the value belongs to (`JWT_SECRET`, ...).
    pub fn name(&self) -> &'static str {
        self.var
    }
}

impl<T: ?Sized + 'static> Deref for Secret<T> {
    type Target = T;

    fn deref(&self) -> &T {
        let slot = self.slot.read().unwrap_or_else(PoisonError::into_inner);
        let (value, granted) = (slot.value, slot.granted);
        drop(slot);
        if !granted && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::error!(
                variable = self.var,
                "secret_not_granted: this function used a secret it does not hold (its SECRETS, infra/routes.py); a random value stood in"
            );
        }
        value
    }
}

/// A random stand-in for a secret not held: 48 URL-safe characters.
pub(crate) fn placeholder() -> String {
    crate::secrets::generate("unheld-")
}

/// Where a function's secrets come from: the `SECRETS` it names, under `SECRETS_NAME`.
#[derive(Debug, Clone)]
pub struct SecretSource {
    /// `SECRETS_NAME`: the secrets are `<prefix>/<secret>`.
    pub prefix: String,
    /// The secrets this function reads (`SECRETS`; none for `none`).
    pub secrets: Vec<&'static str>,
    /// How often they are read again (`SECRETS_REFRESH_SECONDS`, default 300).
    pub refresh: Duration,
    /// `AWS_REGION` (or `AWS_DEFAULT_REGION`).
    pub region: String,
    /// `AWS_ENDPOINT_URL_SECRETSMANAGER`: a local stand-in (scripts/secrets_server.py).
    pub endpoint: Option<String>,
}

impl SecretSource {
    /// The source `lookup` describes; `None` without `SECRETS` (the settings are then the
    /// variables themselves, as in-process tests and the bench give them).
    ///
    /// # Errors
    /// An unknown secret name, no `SECRETS_NAME`, or a bad refresh interval.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let Some(listed) = lookup("SECRETS") else { return Ok(None) };
        let mut secrets = Vec::new();
        for name in listed.split(',').map(str::trim).filter(|n| !n.is_empty() && *n != "none") {
            let known = SECRETS
                .iter()
                .find(|(s, _)| *s == name)
                .ok_or_else(|| ConfigError::new("SECRETS", format!("`{name}` is not one of auth, webhook, none")))?;
            if !secrets.contains(&known.0) {
                secrets.push(known.0);
            }
        }
        let prefix = lookup("SECRETS_NAME").filter(|p| !p.trim().is_empty());
        let prefix = match (prefix, secrets.is_empty()) {
            (Some(p), _) => p,
            (None, true) => String::new(),
            (None, false) => return Err(ConfigError::new("SECRETS_NAME", "is required when SECRETS names a secret")),
        };
        let refresh = match lookup("SECRETS_REFRESH_SECONDS") {
            None => DEFAULT_REFRESH,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|s| (1..=3600).contains(s))
                .map(Duration::from_secs)
                .ok_or_else(|| ConfigError::new("SECRETS_REFRESH_SECONDS", "must be 1..=3600"))?,
        };
        let region = lookup("AWS_REGION").or_else(|| lookup("AWS_DEFAULT_REGION")).unwrap_or_else(|| "us-east-1".into());
        Ok(Some(Self { prefix, secrets, refresh, region, endpoint: lookup("AWS_ENDPOINT_URL_SECRETSMANAGER") }))
    }

    /// The Secrets Manager client, with the SDK's timeouts and retries bounded like the
    /// store's (a cold start must not hang on it).
    pub fn client(&self, credentials: SharedCredentialsProvider) -> aws_sdk_secretsmanager::Client {
        let mut conf = aws_sdk_secretsmanager::Config::builder()
            .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
            .region(aws_sdk_secretsmanager::config::Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .timeout_config(
                aws_sdk_secretsmanager::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_attempt_timeout(Duration::from_secs(2))
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            )
            .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::standard().with_max_attempts(3));
        if let Some(url) = &self.endpoint {
            conf = conf.endpoint_url(url);
        }
        aws_sdk_secretsmanager::Client::from_conf(conf.build())
    }

    /// Reads every secret of this function (at once) and puts their values into
    /// `config`; only once all are read and valid, so a refresh never applies half.
    ///
    /// # Errors
    /// A secret that cannot be read, or a value that is missing or malformed (named by
    /// the secret and key, never by its value).
    pub async fn load(&self, client: &aws_sdk_secretsmanager::Client, config: &Config) -> Result<(), ConfigError> {
        let reads = self.secrets.iter().map(|name| async move {
            let id = format!("{}/{name}", self.prefix);
            let out = client
                .get_secret_value()
                .secret_id(&id)
                .send()
                .await
                .map_err(|e| ConfigError::new("SECRETS", format!("reading {id}: {}", crate::error::chain(&e))))?;
            let text = out.secret_string().ok_or_else(|| ConfigError::new("SECRETS", format!("{id} holds no SecretString")))?;
            let doc: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).map_err(|_| ConfigError::new("SECRETS", format!("{id} is not a JSON object")))?;
            Ok::<_, ConfigError>((id, doc))
        });
        let docs = futures::future::try_join_all(reads).await?;
        let mut values = Vec::new();
        for ((id, doc), name) in docs.iter().zip(&self.secrets) {
            let keys = SECRETS.iter().find(|(s, _)| s == name).map(|(_, k)| *k).unwrap_or_default();
            for (key, var) in keys {
                let value = doc
                    .get(*key)
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| ConfigError::new("SECRETS", format!("{id} has no string `{key}`")))?;
                values.push((*var, crate::config::checked_secret(var, value.to_owned())?));
            }
        }
        for (var, value) in values {
            if config.set_secret(var, value) {
                tracing::info!(variable = var, "secret rotated: the new value is in use");
            }
        }
        Ok(())
    }

    /// Reads the secrets again every `refresh`, for as long as the process lives (a
    /// frozen Lambda environment catches up on its first invocation after thawing).
    pub fn keep_fresh(self, client: aws_sdk_secretsmanager::Client, config: Config) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.refresh);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = self.load(&client, &config).await {
                    tracing::warn!(error = %e, "refreshing the secrets failed; keeping the values held");
                }
            }
        });
    }
}

/// The SDK's credentials from the environment (on Lambda, the execution role's).
pub fn env_credentials() -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(aws_config::environment::EnvironmentVariableCredentialsProvider::new())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A GetSecretValue server (AWS JSON 1.1) on a free port, serving `values`.
    async fn server(values: Arc<Mutex<HashMap<String, String>>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else { return };
                let values = values.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = sock.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
                        if buf.len() < end + 4 + len {
                            continue;
                        }
                        let body: serde_json::Value = serde_json::from_slice(&buf[end + 4..end + 4 + len]).unwrap();
                        buf.drain(..end + 4 + len);
                        let id = body["SecretId"].as_str().unwrap().to_owned();
                        let found = values.lock().unwrap().get(&id).cloned();
                        let (status, answer) = match found {
                            Some(s) => ("200 OK", serde_json::json!({"Name": id, "SecretString": s}).to_string()),
                            None => ("400 Bad Request", r#"{"__type":"ResourceNotFoundException","message":"no such secret"}"#.to_owned()),
                        };
                        let reply = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{answer}",
                            answer.len()
                        );
                        if sock.write_all(reply.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        format!("http://{addr}")
    }

    fn auth(jwt: &str) -> String {
        serde_json::json!({"cursorSecret": "c".repeat(32), "jwtSecret": jwt, "adminApiKeySha256": "A".repeat(64)}).to_string()
    }

    fn credentials() -> SharedCredentialsProvider {
        SharedCredentialsProvider::new(aws_sdk_secretsmanager::config::Credentials::new("local", "local", None, None, "test"))
    }

    #[tokio::test]
    async fn secrets_are_read_then_a_rotation_replaces_them_and_ungranted_ones_stay_random() {
        let values = Arc::new(Mutex::new(HashMap::from([("t/auth".to_owned(), auth(&"1".repeat(32)))])));
        let endpoint = server(values.clone()).await;
        let vars = HashMap::from([
            ("TABLE_NAME", "t".to_owned()),
            ("SECRETS", "auth".to_owned()),
            ("SECRETS_NAME", "t".to_owned()),
            ("AWS_ENDPOINT_URL_SECRETSMANAGER", endpoint),
        ]);
        let config = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
        assert!(!config.jwt_secret.is_granted(), "nothing is held before the read");
        let source = config.secrets_source.clone().unwrap();
        let client = source.client(credentials());
        source.load(&client, &config).await.unwrap();
        assert_eq!(&*config.jwt_secret, "1".repeat(32).as_bytes());
        assert_eq!(&*config.admin_key_sha256, "a".repeat(64), "the admin hash is lowercased");
        let copy = config.clone();

        // A rotation: the next read replaces the value, in every copy of the config.
        values.lock().unwrap().insert("t/auth".into(), auth(&"2".repeat(32)));
        source.load(&client, &config).await.unwrap();
        assert_eq!(&*copy.jwt_secret, "2".repeat(32).as_bytes());

        // A bad value is refused whole: the values held stay.
        values.lock().unwrap().insert("t/auth".into(), auth("short"));
        let err = source.load(&client, &config).await.unwrap_err().to_string();
        assert!(err.contains("JWT_SECRET") && !err.contains("short"), "{err}");
        assert_eq!(&*config.jwt_secret, "2".repeat(32).as_bytes());

        // Not granted: a random value, never empty, different in each process.
        assert!(!config.webhook_key.is_granted());
        assert!(config.webhook_key.len() >= 32);
    }

    #[tokio::test]
    async fn a_missing_secret_names_it() {
        let endpoint = server(Arc::default()).await;
        let vars = HashMap::from([
            ("TABLE_NAME", "t".to_owned()),
            ("SECRETS", "webhook".to_owned()),
            ("SECRETS_NAME", "t".to_owned()),
            ("AWS_ENDPOINT_URL_SECRETSMANAGER", endpoint),
        ]);
        let config = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
        let source = config.secrets_source.clone().unwrap();
        let err = source.load(&source.client(credentials()), &config).await.unwrap_err().to_string();
        assert!(err.contains("t/webhook"), "{err}");
    }

    #[test]
    fn secrets_lists_only_known_names() {
        let lookup = |k: &str| match k {
            "SECRETS" => Some("auth,keys".to_owned()),
            "SECRETS_NAME" => Some("x".to_owned()),
            _ => None,
        };
        assert!(SecretSource::from_lookup(&lookup).unwrap_err().to_string().contains("keys"));
        let none = |k: &str| (k == "SECRETS").then(|| "none".to_owned());
        assert!(SecretSource::from_lookup(&none).unwrap().unwrap().secrets.is_empty());
    }
}
