//! `fields=a,b,c`: the subset of an object's fields a client asked for (list and detail
//! endpoints). An unknown field name is an error listing the known ones.

use super::envelope::ApiError;

/// Which fields to keep; `None` keeps every field.
#[derive(Debug, Clone, Default)]
pub struct FieldSet(Option<Vec<String>>);

impl FieldSet {
    /// Checks the requested names against `known`.
    pub fn parse(requested: Vec<String>, known: &[&str]) -> Result<FieldSet, ApiError> {
        if requested.is_empty() {
            return Ok(FieldSet(None));
        }
        if let Some(bad) = requested.iter().find(|f| !known.contains(&f.as_str())) {
            return Err(ApiError::InvalidParameter(format!(
                "fields: unknown field {bad:?}; known fields: {}",
                known.join(", ")
            )));
        }
        Ok(FieldSet(Some(requested)))
    }

    /// The object with only the selected fields (in the object's own order).
    pub fn apply(&self, mut v: serde_json::Value) -> serde_json::Value {
        if let (Some(keep), Some(obj)) = (&self.0, v.as_object_mut()) {
            obj.retain(|k, _| keep.iter().any(|f| f == k));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_select_and_reject_unknown_names() {
        let known = ["a", "b", "c"];
        let f = FieldSet::parse(vec!["c".into(), "a".into()], &known).expect("known");
        let v = f.apply(serde_json::json!({"a": 1, "b": 2, "c": 3}));
        assert_eq!(v, serde_json::json!({"a": 1, "c": 3}));
        let e = FieldSet::parse(vec!["d".into()], &known).unwrap_err();
        assert!(e.to_string().contains("known fields: a, b, c"), "{e}");
        let all = FieldSet::parse(vec![], &known).expect("all");
        assert_eq!(
            all.apply(serde_json::json!({"b": 2})),
            serde_json::json!({"b": 2})
        );
    }
}
