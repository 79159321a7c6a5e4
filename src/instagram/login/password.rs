//! The password as `accounts/login/` takes it: `enc_password`, AES-256-GCM under a random key
//! that is itself RSA-encrypted with Instagram's published key (docs/instagram.md §6
//! "`enc_password`"). The plain password lives only in a `Password`, which never prints and is
//! wiped from memory when dropped.

use std::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey;
use zeroize::Zeroizing;

use super::error::LoginError;

/// A password typed by the user. `Debug` and `Display` print `<redacted>`; the bytes are
/// zeroed on drop.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(text: String) -> Password {
        Password(Zeroizing::new(text))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The key Instagram publishes for password encryption: the id that goes into the blob and
/// the RSA public key (`ig-set-password-encryption-key-id` / `…-pub-key`).
#[derive(Clone)]
pub struct PasswordKey {
    pub id: u8,
    public: rsa::PublicKey,
}

impl fmt::Debug for PasswordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordKey").field("id", &self.id).finish()
    }
}

/// Longest header value accepted for the key (a 4096-bit PEM, base64'd, is about 1 KiB).
const MAX_KEY_HEADER: usize = 8 * 1024;

impl PasswordKey {
    /// Reads the two response headers: the id must fit the blob's one byte, the key must be
    /// base64 of a PEM SubjectPublicKeyInfo.
    pub fn from_headers(id: &str, pub_key_b64: &str) -> Result<PasswordKey, LoginError> {
        let bad = |why: &str| LoginError::BadEncryptionKey(why.to_string());
        let id: u8 = id
            .trim()
            .parse()
            .map_err(|_| bad("the key id is not a number from 0 to 255"))?;
        if pub_key_b64.len() > MAX_KEY_HEADER {
            return Err(bad("the public key header is too long"));
        }
        let pem = base64::engine::general_purpose::STANDARD
            .decode(pub_key_b64.trim())
            .map_err(|_| bad("the public key is not base64"))?;
        let pem = String::from_utf8(pem).map_err(|_| bad("the public key is not a PEM text"))?;
        let public = rsa::PublicKey::from_public_key_pem(pem.trim())
            .map_err(|_| bad("the public key is not an RSA public key in PEM form"))?;
        Ok(PasswordKey { id, public })
    }

    /// `#PWD_INSTAGRAM:4:<time>:<base64(blob)>` with a fresh random AES key and IV.
    pub fn encrypt(&self, password: &Password, unix_time: u64) -> Result<String, LoginError> {
        let aes_key = Zeroizing::new(rand::random::<[u8; 32]>());
        let iv: [u8; 12] = rand::random();
        let rsa_ct = self
            .public
            .pkcs1v15_encrypt(aes_key.as_slice())
            .map_err(|e| LoginError::BadEncryptionKey(format!("RSA encryption failed: {e}")))?;
        let time = unix_time.to_string();
        let blob = seal(self.id, &rsa_ct, &aes_key, &iv, &time, password)?;
        Ok(format!(
            "#PWD_INSTAGRAM:4:{time}:{}",
            base64::engine::general_purpose::STANDARD.encode(blob)
        ))
    }
}

/// The AES-GCM part, deterministic given key and IV (the reference's test vector checks it):
/// `ciphertext`, `tag` of `password` under `key`, `iv`, AAD = the timestamp text.
fn aes_gcm(
    key: &[u8; 32],
    iv: &[u8; 12],
    aad: &str,
    password: &Password,
) -> Result<(Vec<u8>, [u8; 16]), LoginError> {
    let cipher = Aes256Gcm::new(key.into());
    let mut buf = password.bytes().to_vec();
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(*iv), aad.as_bytes(), buf.as_mut_slice().into())
        .map_err(|_| LoginError::BadEncryptionKey("AES-GCM encryption failed".into()))?;
    let mut t = [0u8; 16];
    t.copy_from_slice(tag.as_slice());
    Ok((buf, t))
}

/// `01 | key_id | iv | u16le(len(rsa_ct)) | rsa_ct | tag | ciphertext`.
fn seal(
    key_id: u8,
    rsa_ct: &[u8],
    aes_key: &[u8; 32],
    iv: &[u8; 12],
    time: &str,
    password: &Password,
) -> Result<Vec<u8>, LoginError> {
    let len = u16::try_from(rsa_ct.len())
        .map_err(|_| LoginError::BadEncryptionKey("the RSA key is too large".into()))?;
    let (ct, tag) = aes_gcm(aes_key, iv, time, password)?;
    let mut blob = Vec::with_capacity(16 + rsa_ct.len() + 16 + ct.len());
    blob.push(1);
    blob.push(key_id);
    blob.extend_from_slice(iv);
    blob.extend_from_slice(&len.to_le_bytes());
    blob.extend_from_slice(rsa_ct);
    blob.extend_from_slice(&tag);
    blob.extend_from_slice(&ct);
    Ok(blob)
}

/// `"2"` and the decimal sum of `phone_id`'s character codes (docs/instagram.md §6).
pub fn jazoest(phone_id: &str) -> String {
    let sum: u64 = phone_id.chars().map(|c| u64::from(u32::from(c))).sum();
    format!("2{sum}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn aes_part_matches_the_reference_vector() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let iv: [u8; 12] = std::array::from_fn(|i| i as u8);
        let (ct, tag) =
            aes_gcm(&key, &iv, "1700000000", &Password::new("hunter2".into())).expect("seal");
        assert_eq!(hex(&ct), "2f77b86fa097f0");
        assert_eq!(hex(&tag), "429a73783ac5757b8057a372adc4dd33");
    }

    #[test]
    fn blob_layout_and_length() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let iv: [u8; 12] = std::array::from_fn(|i| i as u8);
        let rsa_ct = vec![0xAB; 256];
        let blob = seal(
            41,
            &rsa_ct,
            &key,
            &iv,
            "1700000000",
            &Password::new("hunter2".into()),
        )
        .expect("seal");
        assert_eq!(blob.len(), 295);
        assert_eq!(&blob[..2], &[1, 41]);
        assert_eq!(&blob[2..14], &iv);
        assert_eq!(&blob[14..16], &[0x00, 0x01], "256, little-endian");
        assert_eq!(&blob[16..272], rsa_ct.as_slice());
        assert_eq!(hex(&blob[272..288]), "429a73783ac5757b8057a372adc4dd33");
        assert_eq!(hex(&blob[288..]), "2f77b86fa097f0");
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .encode(&blob)
                .len(),
            396
        );
    }

    #[test]
    fn jazoest_of_the_reference_phone_id() {
        assert_eq!(jazoest("57d64c41-a916-3fa5-bd7a-3796c1dab122"), "22413");
    }

    #[test]
    fn password_never_prints() {
        let p = Password::new("hunter2".into());
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn bad_key_headers_are_errors() {
        assert!(PasswordKey::from_headers("256", "AAAA").is_err());
        assert!(PasswordKey::from_headers("x", "AAAA").is_err());
        assert!(PasswordKey::from_headers("41", "not base64!").is_err());
        let not_pem = base64::engine::general_purpose::STANDARD.encode("hello");
        assert!(PasswordKey::from_headers("41", &not_pem).is_err());
        assert!(PasswordKey::from_headers("41", &"A".repeat(MAX_KEY_HEADER + 4)).is_err());
    }
}
