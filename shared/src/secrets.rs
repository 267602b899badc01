//! Secrets: generating them, hashing them for storage, signing with them.
//!
//! API keys, client keys and license keys are long random strings, so a fast
//! SHA-256 is a safe way to store and look them up; only human passwords need a
//! slow hash (see `auth`). Nothing here logs or stores plaintext.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// How many characters of a secret are kept to recognise it (`apiKeyPrefix`, key `prefix`).
pub const PREFIX_LEN: usize = 12;

/// A new secret: `prefix` followed by 32 random base62 characters (about 190 bits).
pub fn generate(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let mut out = String::with_capacity(prefix.len() + 32);
    out.push_str(prefix);
    for _ in 0..32 {
        out.push(ALPHABET[rng.gen_range(0..ALPHABET.len())] as char);
    }
    out
}

/// The part of a secret that may be shown again.
pub fn visible_prefix(secret: &str) -> String {
    secret.chars().take(PREFIX_LEN).collect()
}

/// SHA-256 of a secret, as lowercase hex: the only form in which keys are stored.
pub fn sha256_hex(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// Constant-time equality of two byte strings.
pub fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// HMAC-SHA256 of `message` under `key`, base64url without padding.
pub fn sign(key: &[u8], message: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(hmac_sha256(key, message))
}

/// Whether `signature` (from [`sign`]) is right for `message`, in constant time.
pub fn verify(key: &[u8], message: &[u8], signature: &str) -> bool {
    match URL_SAFE_NO_PAD.decode(signature) {
        Ok(given) => equal(&given, &hmac_sha256(key, message)),
        Err(_) => false,
    }
}

/// Raw HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_differ_and_keep_their_prefix() {
        let a = generate("ck_live_");
        let b = generate("ck_live_");
        assert_ne!(a, b);
        assert!(a.starts_with("ck_live_") && a.len() == 40);
        assert_eq!(visible_prefix(&a), &a[..12]);
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn signatures_verify_only_for_their_message() {
        let sig = sign(b"key", b"message");
        assert!(verify(b"key", b"message", &sig));
        assert!(!verify(b"key", b"messagE", &sig));
        assert!(!verify(b"other", b"message", &sig));
        assert!(!verify(b"key", b"message", "not base64!"));
    }
}
