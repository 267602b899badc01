//! Reading a JSON request body field by field, collecting every problem.
//!
//! serde stops at the first bad field; the contract wants one 400 that lists them
//! all (unknown fields included). [`Fields`] walks the body's object, parses each
//! known member into its domain type through [`FromJson`], records every failure
//! with its path (`contact.email`), and on [`Fields::finish`] rejects whatever
//! members were not asked for.

use serde_json::{Map, Value};

use crate::error::{ApiError, FieldError};

/// Where parse failures are collected.
pub type Errors = Vec<FieldError>;

/// A domain value that can be parsed from a JSON member.
pub trait FromJson: Sized {
    /// Parses `value` found at path `at`; on failure pushes one or more errors and returns `None`.
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self>;
}

/// Runs a single-message parser, recording its error at `at`.
pub fn parse_with<T>(
    value: &Value,
    at: &str,
    errors: &mut Errors,
    parse: impl FnOnce(&Value) -> Result<T, String>,
) -> Option<T> {
    match parse(value) {
        Ok(v) => Some(v),
        Err(message) => {
            errors.push(FieldError::new(at, message));
            None
        }
    }
}

/// What a merge-patch (RFC 7396) says about one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patch<T> {
    /// Not mentioned: keep the current value.
    Keep,
    /// `null`: clear it.
    Clear,
    /// A new value.
    Set(T),
}

/// A non-negative whole number as JSON may write it: `2` or `2.0` (JSON Schema's
/// `integer` includes both, so generated clients may send either), at most 2^53 − 1.
pub fn whole(v: &Value) -> Option<u64> {
    const MAX: f64 = 9_007_199_254_740_991.0;
    v.as_u64()
        .filter(|n| *n as f64 <= MAX)
        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && (0.0..=MAX).contains(f)).map(|f| f as u64))
}

impl<T> Patch<T> {
    /// Whether the member was left out.
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }
}

/// A JSON object being read member by member.
pub struct Fields {
    at: String,
    object: Map<String, Value>,
    errors: Errors,
}

impl Fields {
    /// Starts reading a request body, which must be a JSON object.
    ///
    /// # Errors
    /// `validation_failed` naming `body` when it is not an object.
    pub fn from_body(value: Value) -> Result<Self, ApiError> {
        match value {
            Value::Object(object) => Ok(Self { at: String::new(), object, errors: Vec::new() }),
            other => Err(ApiError::invalid(
                "body",
                format!("must be a JSON object, not {}", json_type(&other)),
            )),
        }
    }

    /// Reads a nested object at `at`, sharing the caller's error list through [`Fields::close`].
    pub fn nested(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        match value {
            Value::Object(object) => Some(Self {
                at: format!("{at}."),
                object: object.clone(),
                errors: Vec::new(),
            }),
            other => {
                errors.push(FieldError::new(at, format!("must be an object, not {}", json_type(other))));
                None
            }
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.at)
    }

    /// A member that must be present and not null.
    pub fn required<T: FromJson>(&mut self, name: &str) -> Option<T> {
        let at = self.path(name);
        match self.object.remove(name) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(at, "is required"));
                None
            }
            Some(value) => T::from_json(&value, &at, &mut self.errors),
        }
    }

    /// A member that may be absent or null (both read as `None`).
    pub fn optional<T: FromJson>(&mut self, name: &str) -> Option<T> {
        let at = self.path(name);
        match self.object.remove(name) {
            None | Some(Value::Null) => None,
            Some(value) => T::from_json(&value, &at, &mut self.errors),
        }
    }

    /// A member of a patch that can be changed but never cleared: absent keeps, a value
    /// sets, null is refused (rather than read as "keep").
    pub fn settable<T: FromJson>(&mut self, name: &str) -> Option<T> {
        if self.object.get(name).is_some_and(Value::is_null) {
            self.object.remove(name);
            self.errors.push(FieldError::new(self.path(name), "cannot be cleared"));
            return None;
        }
        self.optional(name)
    }

    /// An optional member that has no `null`: left out is `None`, `null` is an error
    /// (nothing it could clear), so a `null` never passes for "no change" unnoticed.
    pub fn not_null<T: FromJson>(&mut self, name: &str) -> Option<T> {
        if self.object.get(name).is_some_and(Value::is_null) {
            self.object.remove(name);
            self.error(name, "must not be null (leave it out to keep it)");
            return None;
        }
        self.optional(name)
    }

    /// A member of a merge patch: absent keeps, null clears, a value sets.
    pub fn patch<T: FromJson>(&mut self, name: &str) -> Patch<T> {
        let at = self.path(name);
        match self.object.remove(name) {
            None => Patch::Keep,
            Some(Value::Null) => Patch::Clear,
            Some(value) => match T::from_json(&value, &at, &mut self.errors) {
                Some(v) => Patch::Set(v),
                None => Patch::Keep,
            },
        }
    }

    /// A member the caller may not write; its presence is an error.
    pub fn read_only(&mut self, name: &str) {
        if self.object.remove(name).is_some() {
            let at = self.path(name);
            self.errors.push(FieldError::new(at, "is read-only"));
        }
    }

    /// Records an error found while combining members.
    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        let at = self.path(name);
        self.errors.push(FieldError::new(at, message));
    }

    /// Ends a nested object: unknown members and errors go to the parent's list.
    pub fn close(mut self, errors: &mut Errors) {
        self.reject_unknown();
        errors.append(&mut self.errors);
    }

    /// Ends the body: any unknown member or parse failure makes one 400 listing them all.
    ///
    /// # Errors
    /// `validation_failed` with every bad field.
    pub fn finish(mut self) -> Result<(), ApiError> {
        self.reject_unknown();
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.errors)) }
    }

    fn reject_unknown(&mut self) {
        let mut unknown: Vec<String> = self.object.keys().cloned().collect();
        unknown.sort();
        for name in unknown {
            let at = self.path(&name);
            self.errors.push(FieldError::new(at, "is not a known field"));
        }
        self.object.clear();
    }
}

/// The JSON type name of a value, for error messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl FromJson for bool {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| {
            v.as_bool().ok_or_else(|| format!("must be a boolean, not {}", json_type(v)))
        })
    }
}

impl FromJson for String {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| {
            v.as_str().map(str::to_owned).ok_or_else(|| format!("must be a string, not {}", json_type(v)))
        })
    }
}

impl FromJson for Vec<String> {
    fn from_json(value: &Value, at: &str, errors: &mut Errors) -> Option<Self> {
        parse_with(value, at, errors, |v| {
            v.as_array()
                .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>())
                .ok_or_else(|| "must be an array of strings".to_owned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        assert_eq!(whole(&json!(2)), Some(2));
        assert_eq!(whole(&json!(2.0)), Some(2));
        for bad in [json!(2.5), json!(-1), json!(-1.0), json!("2"), json!(1e300), json!(null)] {
            assert_eq!(whole(&bad), None, "{bad}");
        }
    }

    #[test]
    fn finish_lists_missing_wrong_and_unknown_fields_together() {
        let mut f = Fields::from_body(json!({"flag": "yes", "extra": 1, "other": 2})).unwrap();
        let _: Option<String> = f.required("name");
        let _: Option<bool> = f.optional("flag");
        let Err(ApiError::Validation(errors)) = f.finish() else { panic!("must fail") };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "flag", "extra", "other"]);
    }

    #[test]
    fn patch_distinguishes_absent_null_and_value() {
        let mut f = Fields::from_body(json!({"a": null, "b": "x"})).unwrap();
        assert_eq!(f.patch::<String>("a"), Patch::Clear);
        assert_eq!(f.patch::<String>("b"), Patch::Set("x".into()));
        assert_eq!(f.patch::<String>("c"), Patch::Keep);
        assert!(f.finish().is_ok());
    }

    #[test]
    fn non_object_body_is_rejected() {
        assert!(Fields::from_body(json!([1, 2])).is_err());
    }
}
