//! The one error type of the query engine. Each value carries the numeric code and code name that
//! MongoDB itself returns for the same failure, so the wire layer can copy them into
//! `{ok: 0, code, codeName, errmsg}` without a mapping table.

use thiserror::Error;

/// A query, update, projection, sort or pipeline that MongoDB would reject, or that redhive
/// deliberately refuses because it does not implement it.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{message}")]
pub struct QueryError {
    pub code: i32,
    pub code_name: &'static str,
    pub message: String,
}

// === impl QueryError ===

impl QueryError {
    pub fn new(code: i32, code_name: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            code_name,
            message: message.into(),
        }
    }

    pub fn bad_value(message: impl Into<String>) -> Self {
        Self::new(2, "BadValue", message)
    }

    pub fn failed_to_parse(message: impl Into<String>) -> Self {
        Self::new(9, "FailedToParse", message)
    }

    pub fn type_mismatch(message: impl Into<String>) -> Self {
        Self::new(14, "TypeMismatch", message)
    }

    pub fn path_not_viable(message: impl Into<String>) -> Self {
        Self::new(28, "PathNotViable", message)
    }

    pub fn conflicting_update(message: impl Into<String>) -> Self {
        Self::new(40, "ConflictingUpdateOperators", message)
    }

    pub fn dollar_prefixed(message: impl Into<String>) -> Self {
        Self::new(52, "DollarPrefixedFieldName", message)
    }

    pub fn invalid_id_field(message: impl Into<String>) -> Self {
        Self::new(53, "InvalidIdField", message)
    }

    pub fn not_single_value_field(message: impl Into<String>) -> Self {
        Self::new(54, "NotSingleValueField", message)
    }

    pub fn empty_field_name(message: impl Into<String>) -> Self {
        Self::new(56, "EmptyFieldName", message)
    }

    pub fn immutable_field(message: impl Into<String>) -> Self {
        Self::new(66, "ImmutableField", message)
    }

    /// MongoDB reports many parse errors under an unnamed "location" code; the code name is then
    /// `Location<code>`, which the caller spells out because it must be `'static`.
    pub fn location(code: i32, code_name: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, code_name, message)
    }

    /// Valid MongoDB that redhive does not implement. Refusing is always better than answering
    /// with different semantics, so every such path ends here.
    pub fn unsupported(what: impl std::fmt::Display) -> Self {
        Self::bad_value(format!("{what} is not supported by redhive"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_the_message() {
        let err = QueryError::bad_value("unknown operator: $foo");
        assert_eq!(err.to_string(), "unknown operator: $foo");
        assert_eq!((err.code, err.code_name), (2, "BadValue"));
    }

    #[test]
    fn unsupported_names_redhive() {
        let err = QueryError::unsupported("$where");
        assert_eq!(err.code, 2);
        assert!(err.message.contains("not supported by redhive"));
    }
}
