//! Typed settings, read once per cold start from the environment.
//!
//! Every function reads the same variables; a missing or malformed one stops the
//! cold start with a message naming it, rather than failing on some later request.
//! The four secrets come from AWS Secrets Manager when `SECRETS` is set (always on
//! AWS, and for the functions of the local stack: see [`crate::live_secrets`]), else
//! from their variables (in-process tests and the bench).

use std::time::Duration;

use crate::live_secrets::{Secret, SecretSource, placeholder};

/// The deployment's settings.
#[derive(Clone)]
pub struct Config {
    /// The DynamoDB table holding everything (`TABLE_NAME`).
    pub table_name: String,
    /// Key that signs list cursors (`CURSOR_SECRET`).
    pub cursor_secret: Secret<[u8]>,
    /// Key that signs and verifies HS256 bearer tokens (`JWT_SECRET`).
    pub jwt_secret: Secret<[u8]>,
    /// SHA-256 (hex) of the platform admin's API key (`ADMIN_API_KEY_SHA256`).
    /// Only the hash is configured, so the key itself never sits in the environment.
    pub admin_key_sha256: Secret<str>,
    /// Key from which each webhook endpoint's signing secret is derived (`WEBHOOK_KEY`),
    /// so that no endpoint secret is ever stored.
    pub webhook_key: Secret<[u8]>,
    /// Where the four secrets above come from: Secrets Manager (`SECRETS`), or `None`
    /// when they are the variables themselves.
    pub secrets_source: Option<SecretSource>,
    /// Whether webhook URLs may be `http://` and loopback (`ALLOW_INSECURE_WEBHOOKS`, local only).
    pub allow_insecure_webhooks: bool,
    /// Whether webhooks go to this machine only (`WEBHOOK_LOOPBACK_ONLY`, what `make run`
    /// and `make test` set): a URL must name a loopback host, and delivery connects to
    /// loopback addresses only, so no local run (nor a fuzzer's URLs) sends anything off it.
    pub webhook_loopback_only: bool,
    /// Delays between webhook delivery attempts (`WEBHOOK_RETRY_SCHEDULE`).
    pub webhook_retry_schedule: Vec<Duration>,
    /// Lifetime of tokens issued by `POST /v1/auth/token` (`TOKEN_TTL_SECONDS`, default 3600).
    pub token_ttl: Duration,
    /// The most clients a dialect's whole-list answer carries (`WHOLE_LIST_CAP`, default
    /// 1000, at most 1000: see `dialects::WHOLE_LIST_CAP`). Tests lower it to reach it.
    pub whole_list_cap: u64,
}

/// A setting that is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: String,
}

impl ConfigError {
    pub(crate) fn new(name: &'static str, problem: impl Into<String>) -> Self {
        Self { name, problem: problem.into() }
    }
}

const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

impl Config {
    /// Reads the settings from the process environment.
    ///
    /// # Errors
    /// Names the first variable that is missing or malformed.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests can supply their own.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| ConfigError::new(name, "is required"))
        };
        let secrets_source = SecretSource::from_lookup(&lookup)?;
        // From Secrets Manager: random stand-ins until `App::from_env` has read them
        // (and for good, for a secret the function is not granted).
        let secret = |name: &'static str| -> Result<Secret<[u8]>, ConfigError> {
            if secrets_source.is_some() {
                return Ok(Secret::pending(name, placeholder().into_bytes().into_boxed_slice()));
            }
            match checked_secret(name, required(name)?)? {
                Checked::Bytes(b) => Ok(Secret::granted(name, b)),
                Checked::Text(_) => unreachable!("only the admin hash is text"),
            }
        };
        let admin_key_sha256 = if secrets_source.is_some() {
            Secret::pending("ADMIN_API_KEY_SHA256", placeholder().into_boxed_str())
        } else {
            match checked_secret("ADMIN_API_KEY_SHA256", required("ADMIN_API_KEY_SHA256")?)? {
                Checked::Text(t) => Secret::granted("ADMIN_API_KEY_SHA256", t),
                Checked::Bytes(_) => unreachable!("the admin hash is text"),
            }
        };
        let schedule = lookup("WEBHOOK_RETRY_SCHEDULE").unwrap_or_else(|| DEFAULT_RETRY_SCHEDULE.into());
        let webhook_retry_schedule = parse_schedule(&schedule)
            .map_err(|p| ConfigError::new("WEBHOOK_RETRY_SCHEDULE", p))?;
        let token_ttl = match lookup("TOKEN_TTL_SECONDS") {
            None => Duration::from_secs(3600),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|s| (60..=86_400).contains(s))
                .map(Duration::from_secs)
                .ok_or_else(|| ConfigError::new("TOKEN_TTL_SECONDS", "must be 60..=86400"))?,
        };
        let whole_list_cap = match lookup("WHOLE_LIST_CAP") {
            None => crate::dialects::WHOLE_LIST_CAP,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=crate::dialects::WHOLE_LIST_CAP).contains(n))
                .ok_or_else(|| ConfigError::new("WHOLE_LIST_CAP", "must be 1..=1000"))?,
        };
        Ok(Self {
            table_name: required("TABLE_NAME")?,
            cursor_secret: secret("CURSOR_SECRET")?,
            jwt_secret: secret("JWT_SECRET")?,
            webhook_key: secret("WEBHOOK_KEY")?,
            admin_key_sha256,
            secrets_source,
            allow_insecure_webhooks: matches!(
                lookup("ALLOW_INSECURE_WEBHOOKS").as_deref(),
                Some("1" | "true" | "yes")
            ),
            webhook_loopback_only: matches!(lookup("WEBHOOK_LOOPBACK_ONLY").as_deref(), Some("1" | "true" | "yes")),
            webhook_retry_schedule,
            token_ttl,
            whole_list_cap,
        })
    }
}

/// A secret's value, checked: the admin hash as lowercase text, the others as bytes.
pub(crate) enum Checked {
    Bytes(Box<[u8]>),
    Text(Box<str>),
}

/// Checks one secret's value, wherever it came from: keys at least 32 characters, the
/// admin hash 64 hex digits. The error names the variable, never the value.
pub(crate) fn checked_secret(name: &'static str, value: String) -> Result<Checked, ConfigError> {
    if name == "ADMIN_API_KEY_SHA256" {
        let hash = value.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError::new(name, "must be 64 hex digits"));
        }
        return Ok(Checked::Text(hash.into_boxed_str()));
    }
    if value.trim().is_empty() {
        return Err(ConfigError::new(name, "is required"));
    }
    if value.len() < 32 {
        return Err(ConfigError::new(name, "must be at least 32 characters"));
    }
    Ok(Checked::Bytes(value.into_bytes().into_boxed_slice()))
}

impl Config {
    /// Puts a secret's new value in place (a read from Secrets Manager); whether it
    /// replaced a different value it held.
    pub(crate) fn set_secret(&self, name: &str, value: Checked) -> bool {
        match (name, value) {
            ("CURSOR_SECRET", Checked::Bytes(b)) => self.cursor_secret.set(b),
            ("JWT_SECRET", Checked::Bytes(b)) => self.jwt_secret.set(b),
            ("WEBHOOK_KEY", Checked::Bytes(b)) => self.webhook_key.set(b),
            ("ADMIN_API_KEY_SHA256", Checked::Text(t)) => self.admin_key_sha256.set(t),
            _ => false,
        }
    }
}

/// Parses `5s,5m,30m,2h` into durations.
fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let (number, unit) = part.split_at(part.find(|c: char| !c.is_ascii_digit()).unwrap_or(part.len()));
            let n: u64 = number.parse().map_err(|_| format!("`{part}` is not like 5s, 5m or 2h"))?;
            let secs = match unit {
                "ms" => return Ok(Duration::from_millis(n)),
                "s" => n,
                "m" => n * 60,
                "h" => n * 3600,
                _ => return Err(format!("`{part}` is not like 5s, 5m or 2h")),
            };
            Ok(Duration::from_secs(secs))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_retry_schedule_is_the_contracts() {
        let s = parse_schedule(DEFAULT_RETRY_SCHEDULE).unwrap();
        let secs: Vec<u64> = s.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [5, 300, 1800, 7200, 18000, 36000, 36000]);
    }

    #[test]
    fn malformed_schedule_names_the_bad_part() {
        let err = parse_schedule("5s,soon").unwrap_err();
        assert!(err.contains("soon"), "{err}");
    }

    #[test]
    fn missing_table_name_is_reported_by_name() {
        let env = |k: &str| match k {
            "CURSOR_SECRET" | "JWT_SECRET" | "WEBHOOK_KEY" => Some("x".repeat(32)),
            "ADMIN_API_KEY_SHA256" => Some("a".repeat(64)),
            _ => None,
        };
        let err = Config::from_lookup(env).err().expect("must fail");
        assert!(err.to_string().contains("TABLE_NAME"), "{err}");
    }
}
