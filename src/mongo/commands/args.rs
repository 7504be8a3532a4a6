//! Reading and validating command fields, with MongoDB's error codes for bad ones.

use crate::mongo::error::{CommandError, ErrorCode};
use bson::{Bson, Document};

/// Longest namespace (`db.collection`) MongoDB accepts.
const MAX_NAMESPACE_BYTES: usize = 255;

/// MongoDB's rules for database names: non-empty, under 64 bytes, none of `/\. "$*<>:|?` or NUL.
pub fn check_database_name(db: &str) -> Result<(), CommandError> {
    let bad = db.is_empty() || db.len() >= 64 || db.chars().any(|c| "/\\. \"$*<>:|?\0".contains(c));
    if bad {
        return Err(CommandError::new(
            ErrorCode::InvalidNamespace,
            format!("Invalid database name: '{db}'"),
        ));
    }
    Ok(())
}

/// The collection named by the command's first field (`{find: "c"}`), validated.
pub fn collection(body: &Document, command: &str, db: &str) -> Result<String, CommandError> {
    let name = match body.get(command) {
        Some(Bson::String(name)) => name.clone(),
        Some(other) => {
            return Err(CommandError::new(
                ErrorCode::InvalidNamespace,
                format!("collection name has invalid type {}", type_name(other)),
            ))
        }
        None => {
            return Err(CommandError::new(
                ErrorCode::FailedToParse,
                format!("{command} needs a collection name"),
            ))
        }
    };
    check_collection_name(db, &name)?;
    Ok(name)
}

pub fn check_collection_name(db: &str, name: &str) -> Result<(), CommandError> {
    let invalid = |why: &str| {
        Err(CommandError::new(
            ErrorCode::InvalidNamespace,
            format!("Invalid collection name '{name}': {why}"),
        ))
    };
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.contains('\0') || name.contains('$') {
        return invalid("it may not contain '$' or NUL");
    }
    if name.starts_with("system.") {
        return invalid("system collections are reserved");
    }
    if db.len() + 1 + name.len() > MAX_NAMESPACE_BYTES {
        return invalid("the namespace is longer than 255 bytes");
    }
    Ok(())
}

pub fn document(body: &Document, key: &str) -> Result<Option<Document>, CommandError> {
    match body.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Document(d)) => Ok(Some(d.clone())),
        Some(other) => Err(wrong_type(key, "object", other)),
    }
}

pub fn array<'a>(body: &'a Document, key: &str) -> Result<Option<&'a [Bson]>, CommandError> {
    match body.get(key) {
        None => Ok(None),
        Some(Bson::Array(a)) => Ok(Some(a)),
        Some(other) => Err(wrong_type(key, "array", other)),
    }
}

/// An integer field, accepting every numeric BSON type that holds an integral value.
pub fn integer(body: &Document, key: &str) -> Result<Option<i64>, CommandError> {
    match body.get(key) {
        None | Some(Bson::Null) => Ok(None),
        Some(value) => as_integer(value)
            .map(Some)
            .ok_or_else(|| wrong_type(key, "number", value)),
    }
}

pub fn as_integer(value: &Bson) -> Option<i64> {
    match value {
        Bson::Int32(n) => Some(i64::from(*n)),
        Bson::Int64(n) => Some(*n),
        Bson::Double(d) if d.fract() == 0.0 && d.abs() < 9.2e18 => Some(*d as i64),
        _ => None,
    }
}

/// A non-negative size such as `batchSize` or `skip`.
pub fn count(body: &Document, key: &str) -> Result<Option<usize>, CommandError> {
    match integer(body, key)? {
        None => Ok(None),
        Some(n) if n >= 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        Some(n) => Err(CommandError::bad_value(format!(
            "{key} must be non-negative, but {n} was given"
        ))),
    }
}

/// A boolean field; MongoDB also takes numbers (non-zero is true).
pub fn flag(body: &Document, key: &str) -> Result<bool, CommandError> {
    match body.get(key) {
        None | Some(Bson::Null) => Ok(false),
        Some(Bson::Boolean(b)) => Ok(*b),
        Some(value) => as_integer(value)
            .map(|n| n != 0)
            .or(match value {
                Bson::Double(d) => Some(*d != 0.0),
                _ => None,
            })
            .ok_or_else(|| wrong_type(key, "bool", value)),
    }
}

pub fn string<'a>(body: &'a Document, key: &str) -> Result<Option<&'a str>, CommandError> {
    match body.get(key) {
        None => Ok(None),
        Some(Bson::String(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(key, "string", other)),
    }
}

/// Refuse options whose effect redhive does not implement, instead of ignoring them.
pub fn refuse_unsupported(body: &Document, keys: &[&str]) -> Result<(), CommandError> {
    for key in keys {
        if let Some(value) = body.get(*key) {
            let harmless = matches!(value, Bson::Null | Bson::Boolean(false))
                || (*key == "collation" && is_simple_collation(value));
            if !harmless {
                return Err(CommandError::new(
                    ErrorCode::CommandNotSupported,
                    format!("option '{key}' is not supported by redhive"),
                ));
            }
        }
    }
    Ok(())
}

fn is_simple_collation(value: &Bson) -> bool {
    matches!(value, Bson::Document(d) if d.get_str("locale") == Ok("simple"))
}

fn wrong_type(key: &str, expected: &str, got: &Bson) -> CommandError {
    CommandError::type_mismatch(format!(
        "BSON field '{key}' is the wrong type '{}', expected type '{expected}'",
        type_name(got)
    ))
}

pub fn type_name(value: &Bson) -> &'static str {
    match value {
        Bson::Double(_) => "double",
        Bson::String(_) => "string",
        Bson::Document(_) => "object",
        Bson::Array(_) => "array",
        Bson::Binary(_) => "binData",
        Bson::ObjectId(_) => "objectId",
        Bson::Boolean(_) => "bool",
        Bson::DateTime(_) => "date",
        Bson::Null => "null",
        Bson::RegularExpression(_) => "regex",
        Bson::Int32(_) => "int",
        Bson::Timestamp(_) => "timestamp",
        Bson::Int64(_) => "long",
        Bson::Decimal128(_) => "decimal",
        Bson::MinKey => "minKey",
        Bson::MaxKey => "maxKey",
        Bson::Undefined => "undefined",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn database_names() {
        assert!(check_database_name("r1").is_ok());
        for bad in ["", "a.b", "a/b", "a b", "a$", &"x".repeat(64)] {
            assert_eq!(
                check_database_name(bad).unwrap_err().code,
                ErrorCode::InvalidNamespace,
                "{bad}"
            );
        }
    }

    #[test]
    fn numbers_and_flags() {
        let body = doc! {"a": 2.0, "b": Bson::Int64(3), "c": "x", "d": 1, "e": -1};
        assert_eq!(integer(&body, "a").unwrap(), Some(2));
        assert_eq!(integer(&body, "b").unwrap(), Some(3));
        assert_eq!(
            integer(&body, "c").unwrap_err().code,
            ErrorCode::TypeMismatch
        );
        assert!(flag(&body, "d").unwrap());
        assert_eq!(count(&body, "e").unwrap_err().code, ErrorCode::BadValue);
    }
}
