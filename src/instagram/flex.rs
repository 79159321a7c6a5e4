//! Lenient field decoders for Instagram's JSON. The same field arrives as a number from one
//! endpoint (or app version) and as a string from another: ids in ping's docstring are numbers
//! and strings in dilame's typings, `viewer_count` is a float, `is_first_fetch` is the string
//! `"True"` (docs/instagram.md §2). Each decoder accepts every shape seen and maps `null` to "absent",
//! so one odd field never fails a whole poll.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn value_to_string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn value_to_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn value_to_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9.0e18)
                .map(|f| f.trunc() as i64)
        }),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>().ok().or_else(|| {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && f.abs() < 9.0e18)
                    .map(|f| f.trunc() as i64)
            })
        }
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn value_to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A required id: string or number. Missing ids fail the object (it is unusable without one).
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    value_to_string(Value::deserialize(d)?)
        .ok_or_else(|| serde::de::Error::custom("expected a string or a number"))
}

/// Optional string: string, number or bool; `null`, objects and arrays become `None`.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(value_to_string(Value::deserialize(d)?))
}

/// Optional float: number or numeric string (`viewer_count`, `created_at`).
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(value_to_f64(&Value::deserialize(d)?))
}

/// Optional integer: integer, float (truncated) or numeric string (timestamps, counts).
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(value_to_i64(&Value::deserialize(d)?))
}

/// Optional bool: `true`, `"True"`, `"False"`, `1`, `0` (`is_first_fetch`, `is_top_live_eligible`).
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(value_to_bool(&Value::deserialize(d)?))
}

/// A list that may be `null` or missing (`system_comments: null`); items that fail to decode
/// are dropped rather than failing the page.
pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Array(items) => Ok(items
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect()),
        _ => Ok(Vec::new()),
    }
}

/// A list of ids (strings or numbers), `null` meaning empty (`cobroadcaster_ids`).
pub fn id_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Array(items) => Ok(items.into_iter().filter_map(value_to_string).collect()),
        _ => Ok(Vec::new()),
    }
}

/// An optional nested object that is dropped (not fatal) when its shape is unexpected.
pub fn opt_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        v => Ok(serde_json::from_value(v).ok()),
    }
}
