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
    hex::encode(Sha256::digest(secret.as_bytes()))
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

/// Encrypts `plain` with AES-256-GCM under a 32-byte key: base64 of a random nonce
/// followed by the ciphertext and its tag. Used for what must be kept but never
/// readable at rest (idempotent replays that carry a secret shown once).
///
/// # Errors
/// Only if the cipher cannot be set up.
pub fn seal(key: &[u8; 32], plain: &[u8]) -> Result<String, crate::ApiError> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    use base64::Engine as _;
    use rand::RngCore as _;
    let cipher = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|_| crate::ApiError::internal("AES key"))?);
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    let mut data = plain.to_vec();
    cipher
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
        .map_err(|_| crate::ApiError::internal("sealing failed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// Decrypts what [`seal`] made with the same key; `None` if it was made with another
/// key or has been tampered with.
pub fn open(key: &[u8; 32], sealed: &str) -> Option<Vec<u8>> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.decode(sealed).ok()?;
    if raw.len() < NONCE_LEN {
        return None;
    }
    let (nonce, data) = raw.split_at(NONCE_LEN);
    let cipher = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let mut data = data.to_vec();
    let plain = cipher.open_in_place(Nonce::try_assume_unique_for_key(nonce).ok()?, Aad::empty(), &mut data).ok()?;
    Some(plain.to_vec())
}

/// A 32-byte key for one purpose, derived from a deployment secret and context
/// values (HMAC-SHA256 over length-prefixed parts, so parts cannot run together).
pub fn derive_key(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut message = Vec::new();
    for part in parts {
        message.extend_from_slice(&(part.len() as u64).to_be_bytes());
        message.extend_from_slice(part);
    }
    let mac = hmac_sha256(secret, &message);
    let mut key = [0u8; 32];
    key.copy_from_slice(&mac[..32]);
    key
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

    #[test]
    fn sealed_text_opens_only_with_its_key_and_hides_the_plaintext() {
        let key = derive_key(b"deployment secret", &[b"idempotency", b"ApiKey:1", b"key-1"]);
        let other = derive_key(b"deployment secret", &[b"idempotency", b"ApiKey:2", b"key-1"]);
        let sealed = seal(&key, b"{\"key\":\"ck_live_secret\"}").unwrap();
        assert!(!sealed.contains("ck_live"));
        assert_ne!(sealed, seal(&key, b"{\"key\":\"ck_live_secret\"}").unwrap(), "a fresh nonce each time");
        assert_eq!(open(&key, &sealed).unwrap(), b"{\"key\":\"ck_live_secret\"}");
        assert!(open(&other, &sealed).is_none());
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&key, &String::from_utf8(tampered).unwrap()).is_none());
    }
}
