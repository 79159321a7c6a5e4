//! Query-string parameters, parsed by hand so every mistake gets the envelope's
//! `missing_parameter` / `invalid_parameter` error naming the parameter and what it expects.
//! Unknown parameters are ignored (cache busters and future clients).

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::envelope::ApiError;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// The query string of a request, first value of each name.
#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Params, ApiError> {
        Ok(Params::parse(parts.uri.query().unwrap_or("")))
    }
}

impl Params {
    pub fn parse(query: &str) -> Params {
        let mut m = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            m.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Params(m)
    }

    /// A parameter's value; empty values count as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    pub fn required(&self, name: &str, what: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::MissingParameter(format!("{name} is required: {what}")))
    }

    /// `limit`, between 1 and `MAX_LIMIT`.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_LIMIT),
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::InvalidParameter(format!(
                        "limit: expected a whole number from 1 to {MAX_LIMIT}, got {s:?}"
                    ))
                }),
        }
    }

    pub fn number(&self, name: &str) -> Result<Option<f64>, ApiError> {
        self.get(name)
            .map(|s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite() && *n >= 0.0)
                    .ok_or_else(|| {
                        ApiError::InvalidParameter(format!(
                            "{name}: expected a number of seconds (0 or more), got {s:?}"
                        ))
                    })
            })
            .transpose()
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|s| match s {
                "1" | "true" | "yes" => Ok(true),
                "0" | "false" | "no" => Ok(false),
                _ => Err(ApiError::InvalidParameter(format!(
                    "{name}: expected true or false, got {s:?}"
                ))),
            })
            .transpose()
    }

    /// A time: unix seconds, an RFC 3339 time, or a date (`YYYY-MM-DD`, UTC midnight; with
    /// `end_of_day`, the following midnight, so `until=2026-11-25` includes that day).
    pub fn time(&self, name: &str, end_of_day: bool) -> Result<Option<f64>, ApiError> {
        let Some(s) = self.get(name) else {
            return Ok(None);
        };
        parse_time(s, end_of_day).map(Some).ok_or_else(|| {
            ApiError::InvalidParameter(format!(
                "{name}: expected a date like 2026-11-25, a time like 2026-11-25T11:33:40Z or unix seconds, got {s:?}"
            ))
        })
    }

    /// A comma-separated list (`fields=a,b`, `status=recording,finished`).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn parse_time(s: &str, end_of_day: bool) -> Option<f64> {
    if let Ok(n) = s.parse::<f64>() {
        return n.is_finite().then_some(n);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Some(t.unix_timestamp_nanos() as f64 / 1e9);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(s, &fmt).ok()?;
    let d = if end_of_day { d.next_day()? } else { d };
    Some(d.midnight().assume_utc().unix_timestamp() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_say_what_they_expect() {
        let p = Params::parse("limit=0&since=2026-11-25&until=2026-11-25&x=&a=1&a=2&t=nope");
        assert!(matches!(p.limit(), Err(ApiError::InvalidParameter(m)) if m.contains("1 to 1000")));
        assert_eq!(p.time("since", false).expect("date"), Some(1_795_564_800.0));
        assert_eq!(p.time("until", true).expect("date"), Some(1_795_651_200.0));
        assert_eq!(p.get("x"), None);
        assert_eq!(p.get("a"), Some("1"));
        assert!(p.time("t", false).is_err());
        assert!(matches!(
            p.required("q", "words"),
            Err(ApiError::MissingParameter(_))
        ));
        assert_eq!(
            Params::parse("since=2026-11-25T11:33:40Z")
                .time("since", false)
                .expect("rfc3339"),
            Some(1_795_606_420.0)
        );
        assert_eq!(Params::parse("").limit().expect("default"), DEFAULT_LIMIT);
    }
}
