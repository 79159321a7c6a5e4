//! zlib (RFC 1950) as MQTToT uses it: the CONNECT payload and every PUBLISH payload are
//! deflated at level 9, and inflating is bounded so a small packet can never expand into an
//! unbounded allocation (docs/instagram.md §9 "MQTToT against MQTT 3.1.1").

use std::io::{Read, Write};

use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;

/// Largest inflated payload accepted: a CONNECT or notification is a few hundred bytes.
pub const MAX_INFLATED: usize = 4 * 1024 * 1024;

/// Why a payload could not be inflated.
#[derive(Debug, thiserror::Error)]
pub enum ZlibError {
    #[error("zlib payload inflates past {max} bytes (a zlib bomb or not a notification); dropped")]
    TooLarge { max: usize },
    #[error("not a valid zlib stream: {0}")]
    Corrupt(std::io::Error),
}

/// `data` deflated at level 9 (all three reference clients use 9).
pub fn compress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = ZlibEncoder::new(Vec::with_capacity(data.len() / 2 + 16), Compression::best());
    enc.write_all(data)?;
    enc.finish()
}

/// Inflates `data`, refusing output above `max` bytes.
pub fn inflate(data: &[u8], max: usize) -> Result<Vec<u8>, ZlibError> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    ZlibDecoder::new(data)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(ZlibError::Corrupt)?;
    if out.len() > max {
        return Err(ZlibError::TooLarge { max });
    }
    Ok(out)
}

/// A PUBLISH payload as the receivers read it: inflated when it starts with the zlib header
/// byte `0x78`, taken as is otherwise (instagram_mqtt `tryUnzipAsync`, instagrapi
/// `try_decompress_payload`).
pub fn payload(data: &[u8], max: usize) -> Result<Vec<u8>, ZlibError> {
    if data.first() == Some(&0x78) {
        inflate(data, max)
    } else if data.len() > max {
        Err(ZlibError::TooLarge { max })
    } else {
        Ok(data.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_starts_with_the_level_9_header() {
        let data = br#"{"pkg_name":"com.instagram.android","appid":"567067343352427"}"#;
        let z = compress(data).expect("compress");
        assert_eq!(&z[..2], &[0x78, 0xda]);
        assert_eq!(inflate(&z, 1024).expect("inflate"), data);
        assert_eq!(payload(&z, 1024).expect("payload"), data);
        assert_eq!(
            payload(data, 1024).expect("raw"),
            data,
            "raw JSON passes through"
        );
    }

    #[test]
    fn bombs_and_garbage_are_refused() {
        let bomb = compress(&vec![0u8; 8 * 1024 * 1024]).expect("compress");
        assert!(bomb.len() < 16 * 1024, "{} bytes", bomb.len());
        assert!(matches!(
            inflate(&bomb, MAX_INFLATED),
            Err(ZlibError::TooLarge { .. })
        ));
        assert!(matches!(
            inflate(b"\x78\xda garbage", MAX_INFLATED),
            Err(ZlibError::Corrupt(_))
        ));
        let z = compress(b"abc").expect("compress");
        assert!(inflate(&z[..z.len() - 3], 100).is_err(), "truncated stream");
    }
}
