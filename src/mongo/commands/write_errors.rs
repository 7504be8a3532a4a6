//! The statements of insert, update and delete, run the way MongoDB runs them, with their
//! per-statement errors (`writeErrors` entries) and MongoDB's E11000 wording.

use super::args;
use crate::mongo::error::{CommandError, ErrorCode};
use crate::store::{StoreError, WriteConflict};
use bson::{doc, Bson, Document};

/// The statements (or documents) of one write command.
pub struct Statements {
    items: Vec<Bson>,
    ordered: bool,
}

/// Why one statement of a write command failed.
#[derive(Debug, Clone)]
pub struct WriteError {
    pub error: CommandError,
    /// For duplicate keys: `keyPattern` and `keyValue`, which drivers expose.
    pub duplicate: Option<Box<WriteConflict>>,
}

// === impl Statements ===

impl Statements {
    /// The array `field` (`documents`, `updates`, `deletes`) and the `ordered` flag, which
    /// defaults to true.
    pub fn from_command(body: &Document, field: &str) -> Result<Statements, CommandError> {
        let command = body.keys().next().map(String::as_str).unwrap_or_default();
        let items = args::array(body, field)?
            .ok_or_else(|| {
                CommandError::new(
                    ErrorCode::FailedToParse,
                    format!("{command} needs '{field}'"),
                )
            })?
            .to_vec();
        let ordered = if body.contains_key("ordered") {
            args::flag(body, "ordered")?
        } else {
            true
        };
        Ok(Statements { items, ordered })
    }

    /// Apply each statement in order, handing each success to `done`. A failed statement
    /// becomes a `writeErrors` entry; an ordered batch stops at the first.
    pub fn run<T>(
        &self,
        mut apply: impl FnMut(&Bson) -> Result<Result<T, WriteError>, StoreError>,
        mut done: impl FnMut(usize, T),
    ) -> Result<Vec<Document>, StoreError> {
        let mut errors = Vec::new();
        for (index, statement) in self.items.iter().enumerate() {
            match apply(statement)? {
                Ok(outcome) => done(index, outcome),
                Err(e) => {
                    errors.push(e.entry(index));
                    if self.ordered {
                        break;
                    }
                }
            }
        }
        Ok(errors)
    }
}

// === impl WriteError ===

impl WriteError {
    pub fn duplicate(namespace: &str, conflict: WriteConflict) -> WriteError {
        WriteError {
            error: CommandError::new(
                ErrorCode::DuplicateKey,
                format!(
                    "E11000 duplicate key error collection: {namespace} index: {} dup key: {}",
                    conflict.index,
                    shell_format(&conflict.key_value)
                ),
            ),
            duplicate: Some(Box::new(conflict)),
        }
    }

    /// The `writeErrors` entry for statement `index`.
    pub fn entry(&self, index: usize) -> Document {
        let mut entry = doc! {
            "index": i32::try_from(index).unwrap_or(i32::MAX),
            "code": self.error.code.number(),
            "codeName": self.error.code.name(),
            "errmsg": self.error.message.clone(),
        };
        self.add_key_details(&mut entry);
        entry
    }

    /// The whole reply when a single-document command (findAndModify) fails this way.
    pub fn command_reply(&self) -> Document {
        let mut reply = self.error.to_reply();
        self.add_key_details(&mut reply);
        reply
    }

    fn add_key_details(&self, target: &mut Document) {
        if let Some(conflict) = &self.duplicate {
            target.insert("keyPattern", conflict.key_pattern.clone());
            target.insert("keyValue", conflict.key_value.clone());
        }
    }
}

impl From<CommandError> for WriteError {
    fn from(error: CommandError) -> WriteError {
        WriteError {
            error,
            duplicate: None,
        }
    }
}

impl From<crate::query::QueryError> for WriteError {
    fn from(error: crate::query::QueryError) -> WriteError {
        CommandError::from(error).into()
    }
}

/// The reply of insert, update and delete: `{n, writeErrors?}` (`ok` stays 1 with writeErrors).
pub fn reply(n: usize, errors: Vec<Document>) -> Document {
    let mut reply = doc! {"n": i32::try_from(n).unwrap_or(i32::MAX)};
    if !errors.is_empty() {
        reply.insert("writeErrors", errors);
    }
    reply
}

/// The mongo shell's rendering used in E11000 messages: `{ username: "admin" }`.
fn shell_format(doc: &Document) -> String {
    if doc.is_empty() {
        return "{}".into();
    }
    let fields: Vec<String> = doc
        .iter()
        .map(|(k, v)| format!("{k}: {}", shell_value(v)))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}

fn shell_value(value: &Bson) -> String {
    match value {
        Bson::String(s) => format!("{s:?}"),
        Bson::ObjectId(oid) => format!("ObjectId('{oid}')"),
        Bson::Null => "null".into(),
        Bson::Document(d) => shell_format(d),
        Bson::Int64(n) => n.to_string(),
        Bson::Int32(n) => n.to_string(),
        Bson::Double(d) => d.to_string(),
        Bson::Boolean(b) => b.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e11000_reads_like_mongodb() {
        let e = WriteError::duplicate(
            "nodered.users",
            WriteConflict {
                index: "username_1".into(),
                key_pattern: doc! {"username": 1},
                key_value: doc! {"username": "admin"},
            },
        );
        assert_eq!(
            e.error.message,
            "E11000 duplicate key error collection: nodered.users index: username_1 dup key: { username: \"admin\" }"
        );
        let entry = e.entry(3);
        assert_eq!(entry.get_i32("index").unwrap(), 3);
        assert_eq!(entry.get_i32("code").unwrap(), 11000);
        assert_eq!(
            entry.get_document("keyValue").unwrap(),
            &doc! {"username": "admin"}
        );
    }
}
