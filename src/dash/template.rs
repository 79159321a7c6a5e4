//! `SegmentTemplate` URL templates: identifier substitution (ISO/IEC 23009-1 §5.3.9.4.4)
//! and resolution against the manifest's base URL.
//!
//! Instagram's templates are relative with `..` and a query string, e.g.
//! `../live-hd-v/<loapStreamId>_0-$Time$.m4v?ms=…` (docs/instagram.md §3 "URLs"), so resolution
//! goes through `url::Url::join`, which implements RFC 3986 dot-segment removal.

use url::Url;

use super::manifest_error::ManifestError;

/// Values available when expanding a template; `None` means "not known here", which is an
/// error only if the template actually uses that identifier.
#[derive(Debug, Clone, Copy, Default)]
pub struct TemplateVars<'a> {
    pub representation_id: Option<&'a str>,
    pub bandwidth: Option<u64>,
    pub time: Option<u64>,
    pub number: Option<u64>,
}

/// A media or initialization template bound to the base URL it resolves against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlTemplate {
    pub template: String,
    pub base: Url,
}

impl UrlTemplate {
    /// Expands the identifiers and resolves the result against the base URL.
    pub fn resolve(&self, vars: &TemplateVars<'_>) -> Result<Url, ManifestError> {
        let s = expand(&self.template, vars)?;
        self.base
            .join(&s)
            .map_err(|e| ManifestError::BadUrl(format!("{s}: {e}")))
    }

    /// Whether the template uses `$Number$` (then the segment's index must be known).
    pub fn uses_number(&self) -> bool {
        self.template.contains("$Number")
    }
}

/// Substitutes `$RepresentationID$`, `$Bandwidth$`, `$Time$`, `$Number$` (with optional
/// `%0<w>d` width) and `$$`.
pub fn expand(template: &str, vars: &TemplateVars<'_>) -> Result<String, ManifestError> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('$')
            .ok_or_else(|| ManifestError::BadTemplate(template.chars().take(200).collect()))?;
        let ident = &after[..end];
        rest = &after[end + 1..];
        if ident.is_empty() {
            out.push('$');
            continue;
        }
        let (name, format) = match ident.find('%') {
            Some(i) => (&ident[..i], Some(&ident[i..])),
            None => (ident, None),
        };
        let missing = || ManifestError::TemplateValueMissing(name.to_string());
        match name {
            "RepresentationID" => {
                if format.is_some() {
                    return Err(ManifestError::BadTemplate(
                        template.chars().take(200).collect(),
                    ));
                }
                out.push_str(vars.representation_id.ok_or_else(missing)?);
            }
            "Bandwidth" => push_number(
                &mut out,
                vars.bandwidth.ok_or_else(missing)?,
                format,
                template,
            )?,
            "Time" => push_number(&mut out, vars.time.ok_or_else(missing)?, format, template)?,
            "Number" => push_number(&mut out, vars.number.ok_or_else(missing)?, format, template)?,
            _ => {
                return Err(ManifestError::BadTemplate(
                    template.chars().take(200).collect(),
                ))
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn push_number(
    out: &mut String,
    value: u64,
    format: Option<&str>,
    template: &str,
) -> Result<(), ManifestError> {
    let width = match format {
        None => 0,
        Some(f) => {
            // Only `%0<width>d` is allowed by the standard.
            let digits = f
                .strip_prefix("%0")
                .and_then(|s| s.strip_suffix('d'))
                .ok_or_else(|| ManifestError::BadTemplate(template.chars().take(200).collect()))?;
            let w: usize = digits
                .parse()
                .map_err(|_| ManifestError::BadTemplate(template.chars().take(200).collect()))?;
            w.min(32)
        }
    };
    out.push_str(&format!("{value:0width$}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> TemplateVars<'static> {
        TemplateVars {
            representation_id: Some("live-hd-v"),
            bandwidth: Some(234000),
            time: Some(1037010),
            number: Some(7),
        }
    }

    #[test]
    fn expands_all_identifiers_and_formats() {
        let s = expand(
            "$RepresentationID$/$Bandwidth$-$Time$-$Number%05d$-$$.m4v",
            &vars(),
        )
        .expect("valid template");
        assert_eq!(s, "live-hd-v/234000-1037010-00007-$.m4v");
    }

    #[test]
    fn unknown_identifier_and_unterminated_are_errors() {
        assert!(expand("a$Foo$b", &vars()).is_err());
        assert!(expand("a$Time", &vars()).is_err());
        assert!(expand("$Number%5x$", &vars()).is_err());
    }

    #[test]
    fn missing_value_is_error_only_when_used() {
        let v = TemplateVars::default();
        assert!(matches!(
            expand("x-$Time$", &v),
            Err(ManifestError::TemplateValueMissing(_))
        ));
        assert_eq!(
            expand("plain.mp4", &v).expect("no identifiers"),
            "plain.mp4"
        );
    }

    #[test]
    fn resolves_dot_dot_and_query() {
        let t = UrlTemplate {
            template: "../$RepresentationID$/17_0-$Time$.m4v?ms=m_C&ccb=2-4".into(),
            base: Url::parse("https://cdn.example/hvideo/live-dash/dash-abr/17.mpd?a=1&oe=ff")
                .expect("url"),
        };
        let u = t.resolve(&vars()).expect("resolves");
        assert_eq!(
            u.as_str(),
            "https://cdn.example/hvideo/live-dash/live-hd-v/17_0-1037010.m4v?ms=m_C&ccb=2-4"
        );
    }
}
