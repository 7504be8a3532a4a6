//! MongoDB error codes and the command error that carries one back to the client.

use bson::{doc, Document};

/// The server error codes redhive answers with (numbers from MongoDB's error_codes.yml).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InternalError,
    BadValue,
    FailedToParse,
    Unauthorized,
    TypeMismatch,
    AuthenticationFailed,
    IllegalOperation,
    NamespaceNotFound,
    IndexNotFound,
    CursorNotFound,
    NamespaceExists,
    CommandNotFound,
    ImmutableField,
    InvalidNamespace,
    IndexOptionsConflict,
    IndexKeySpecsConflict,
    CommandNotSupported,
    UserNotFound,
    RoleNotFound,
    DuplicateKey,
    /// A code produced by the query engine, passed through as is.
    Other(i32, &'static str),
}

/// A failed command: becomes `{ok: 0, errmsg, code, codeName}` on the wire.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

// === impl ErrorCode ===

impl ErrorCode {
    pub fn number(self) -> i32 {
        match self {
            ErrorCode::InternalError => 1,
            ErrorCode::BadValue => 2,
            ErrorCode::FailedToParse => 9,
            ErrorCode::UserNotFound => 11,
            ErrorCode::Unauthorized => 13,
            ErrorCode::TypeMismatch => 14,
            ErrorCode::AuthenticationFailed => 18,
            ErrorCode::IllegalOperation => 20,
            ErrorCode::NamespaceNotFound => 26,
            ErrorCode::IndexNotFound => 27,
            ErrorCode::RoleNotFound => 31,
            ErrorCode::CursorNotFound => 43,
            ErrorCode::NamespaceExists => 48,
            ErrorCode::CommandNotFound => 59,
            ErrorCode::ImmutableField => 66,
            ErrorCode::InvalidNamespace => 73,
            ErrorCode::IndexOptionsConflict => 85,
            ErrorCode::IndexKeySpecsConflict => 86,
            ErrorCode::CommandNotSupported => 115,
            ErrorCode::DuplicateKey => 11000,
            ErrorCode::Other(code, _) => code,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::InternalError => "InternalError",
            ErrorCode::BadValue => "BadValue",
            ErrorCode::FailedToParse => "FailedToParse",
            ErrorCode::UserNotFound => "UserNotFound",
            ErrorCode::Unauthorized => "Unauthorized",
            ErrorCode::TypeMismatch => "TypeMismatch",
            ErrorCode::AuthenticationFailed => "AuthenticationFailed",
            ErrorCode::IllegalOperation => "IllegalOperation",
            ErrorCode::NamespaceNotFound => "NamespaceNotFound",
            ErrorCode::IndexNotFound => "IndexNotFound",
            ErrorCode::RoleNotFound => "RoleNotFound",
            ErrorCode::CursorNotFound => "CursorNotFound",
            ErrorCode::NamespaceExists => "NamespaceExists",
            ErrorCode::CommandNotFound => "CommandNotFound",
            ErrorCode::ImmutableField => "ImmutableField",
            ErrorCode::InvalidNamespace => "InvalidNamespace",
            ErrorCode::IndexOptionsConflict => "IndexOptionsConflict",
            ErrorCode::IndexKeySpecsConflict => "IndexKeySpecsConflict",
            ErrorCode::CommandNotSupported => "CommandNotSupported",
            ErrorCode::DuplicateKey => "DuplicateKey",
            ErrorCode::Other(_, name) => name,
        }
    }
}

// === impl CommandError ===

impl CommandError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> CommandError {
        CommandError {
            code,
            message: message.into(),
        }
    }

    pub fn bad_value(message: impl Into<String>) -> CommandError {
        Self::new(ErrorCode::BadValue, message)
    }

    pub fn type_mismatch(message: impl Into<String>) -> CommandError {
        Self::new(ErrorCode::TypeMismatch, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> CommandError {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn internal(message: impl Into<String>) -> CommandError {
        Self::new(ErrorCode::InternalError, message)
    }

    /// The reply document sent for this error.
    pub fn to_reply(&self) -> Document {
        doc! {
            "ok": 0.0,
            "errmsg": self.message.clone(),
            "code": self.code.number(),
            "codeName": self.code.name(),
        }
    }
}

impl From<crate::query::QueryError> for CommandError {
    fn from(e: crate::query::QueryError) -> CommandError {
        CommandError::new(ErrorCode::Other(e.code, e.code_name), e.message)
    }
}

impl From<crate::store::StoreError> for CommandError {
    fn from(e: crate::store::StoreError) -> CommandError {
        tracing::error!(error = %e, "store failure while running a command");
        CommandError::internal(format!("storage failure: {e}"))
    }
}
