//! The ETag S3 gives a file iglive uploads, computed locally, so each upload is verified
//! against the bucket's own answer. A single PUT's ETag is the content's MD5 in hex; a
//! multipart upload's is the MD5 of the parts' binary MD5s followed by `-` and the part count
//! (AWS's documented behaviour, which MinIO, Ceph and moto follow). iglive uploads files of up
//! to [`PART_SIZE`] bytes in one PUT and larger ones in parts of exactly `PART_SIZE`.

use md5::{Digest, Md5};

/// The part size of multipart uploads (S3 wants at least 5 MiB per part but the last).
pub(super) const PART_SIZE: usize = 8 << 20;

/// An ETag computed while the parts are read.
#[derive(Debug, Default)]
pub(super) struct EtagBuilder {
    parts: Vec<[u8; 16]>,
}

impl EtagBuilder {
    /// Adds one part (the whole file for a single PUT).
    pub(super) fn part(&mut self, bytes: &[u8]) {
        self.parts.push(Md5::digest(bytes).into());
    }

    /// The ETag, without quotes: one part is a single PUT, more are a multipart upload.
    pub(super) fn finish(&self) -> String {
        match self.parts.as_slice() {
            [] => hex(&Md5::digest(b"").into()),
            [one] => hex(one),
            many => {
                let mut all = Md5::new();
                for p in many {
                    all.update(p);
                }
                format!("{}-{}", hex(&all.finalize().into()), many.len())
            }
        }
    }
}

fn hex(d: &[u8; 16]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// How the bucket's ETag compares with the local one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EtagCheck {
    Same,
    Different,
    /// Not an MD5-style ETag (server-side encryption with KMS, some servers): only the size
    /// can be compared.
    Opaque,
}

/// Compares the bucket's ETag (quoted or not, weak or not) with the computed one.
pub(super) fn check(expected: &str, found: Option<&str>) -> EtagCheck {
    let Some(found) = found else {
        return EtagCheck::Opaque;
    };
    let found = found.trim_start_matches("W/").trim_matches('"');
    let (md5, count) = found.split_once('-').unwrap_or((found, ""));
    let md5_like = md5.len() == 32
        && md5.bytes().all(|b| b.is_ascii_hexdigit())
        && count.bytes().all(|b| b.is_ascii_digit());
    if !md5_like {
        EtagCheck::Opaque
    } else if found.eq_ignore_ascii_case(expected) {
        EtagCheck::Same
    } else {
        EtagCheck::Different
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multipart_etags() {
        let mut one = EtagBuilder::default();
        one.part(b"hello");
        assert_eq!(one.finish(), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(
            EtagBuilder::default().finish(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        let mut two = EtagBuilder::default();
        two.part(b"hello");
        two.part(b"world");
        let e = two.finish();
        assert!(e.ends_with("-2") && e.len() == 34, "{e}");
    }

    #[test]
    fn bucket_etags_compare() {
        let e = "5d41402abc4b2a76b9719d911017c592";
        assert_eq!(
            check(e, Some("\"5d41402abc4b2a76b9719d911017c592\"")),
            EtagCheck::Same
        );
        assert_eq!(
            check(e, Some("\"00000000000000000000000000000000\"")),
            EtagCheck::Different
        );
        assert_eq!(check(e, Some("opaque-kms-tag")), EtagCheck::Opaque);
        assert_eq!(check(e, None), EtagCheck::Opaque);
    }
}
