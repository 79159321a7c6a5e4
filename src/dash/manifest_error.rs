//! Why a manifest was refused, shared by every stage of the parse (prescan, templates,
//! timelines, the typed manifest).

/// Why a manifest was refused. An MPD without `<Period>` is **not** an error: Instagram
/// ends broadcasts that way, see [`super::LiveManifest::has_period`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest too large or complex: {0}")]
    TooLarge(&'static str),
    #[error("manifest has a DOCTYPE / entity declarations (refused)")]
    DoctypeRefused,
    #[error("manifest is not UTF-8")]
    NotUtf8,
    #[error("document is not an MPD")]
    NotAnMpd,
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("MPD parse error: {0}")]
    Parse(String),
    #[error("bad value for attribute {name}: {value:?}")]
    BadAttribute { name: &'static str, value: String },
    #[error("bad URL: {0}")]
    BadUrl(String),
    #[error("bad SegmentTemplate: {0}")]
    BadTemplate(String),
    #[error("template needs ${0}$ but no value is known")]
    TemplateValueMissing(String),
    #[error("bad SegmentTimeline: {0}")]
    Timeline(String),
    #[error("representation {0} has no segment template")]
    NotTemplated(String),
}
