//! Opaque page cursors: a cursor is base64url of a small JSON document naming which list it
//! belongs to and where the previous page ended. Clients pass it back unchanged; a cursor of
//! another list, or one that does not decode, is an `invalid_parameter`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::envelope::ApiError;

#[derive(Serialize, Deserialize)]
struct Doc<T> {
    /// Which list (and for recordings, which sort) the cursor continues.
    k: String,
    v: T,
}

pub fn encode<T: Serialize>(kind: &str, v: &T) -> String {
    let doc = Doc {
        k: kind.to_string(),
        v,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&doc).unwrap_or_default())
}

/// Decodes `cursor` for the list `kind`.
pub fn decode<T: DeserializeOwned>(kind: &str, cursor: &str) -> Result<T, ApiError> {
    let bad = || {
        ApiError::InvalidParameter(
            "cursor: not a cursor of this list (pass meta.next_cursor of the previous page unchanged, with the same sort)".into(),
        )
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| bad())?;
    let doc: Doc<T> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if doc.k != kind {
        return Err(bad());
    }
    Ok(doc.v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_lists() {
        let c = encode("comments", &(12.5, "pk1".to_string()));
        assert!(c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        let back: (f64, String) = decode("comments", &c).expect("decodes");
        assert_eq!(back, (12.5, "pk1".to_string()));
        assert!(decode::<(f64, String)>("likes", &c).is_err());
        assert!(decode::<(f64, String)>("comments", "not a cursor!").is_err());
        assert!(decode::<(f64, String)>("comments", &encode("comments", &"x")).is_err());
    }
}
