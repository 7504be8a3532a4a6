//! Update documents: replacements and the update operators, with MongoDB's rules for `_id`,
//! conflicting paths, field order and "was anything modified".
//!
//! Supported operators: `$set $unset $inc $mul $min $max $rename $setOnInsert $currentDate
//! $push` (with `$each $slice $sort $position`) `$addToSet` (with `$each`) `$pull $pullAll $pop`.
//! `$bit`, the positional operators (`$`, `$[]`, `$[<id>]`) and therefore arrayFilters are
//! refused. Decimal128 arithmetic is refused too.

use bson::{Bson, Document};

use super::compare::{identical, identical_documents};
use super::error::QueryError;

mod apply;
mod arith;
mod array;
mod field_path;
mod parse;

/// A parsed update: a whole replacement document or a list of operator modifications.
#[derive(Debug, Clone)]
pub enum Update {
    Replacement(Document),
    Operators(UpdateOperators),
}

/// The modifications of an operator update, validated and in the order MongoDB applies them
/// (by field path, so new fields are appended in sorted order).
#[derive(Debug, Clone)]
pub struct UpdateOperators {
    modifications: Vec<parse::Modification>,
}

// === impl Update ===

impl Update {
    /// An empty document is a replacement with nothing. A document whose first key starts with
    /// `$` is an operator update (every key must then be an operator, else FailedToParse);
    /// otherwise it is a replacement, whose top-level keys must not start with `$` (error 52).
    pub fn parse(update: &Document) -> Result<Update, QueryError> {
        match update.keys().next() {
            Some(first) if first.starts_with('$') => Ok(Update::Operators(UpdateOperators {
                modifications: parse::parse_operators(update)?,
            })),
            _ => {
                if let Some(key) = update.keys().find(|key| key.starts_with('$')) {
                    return Err(QueryError::dollar_prefixed(format!(
                        "The dollar ($) prefixed field '{key}' in '{key}' is not allowed in the \
                         context of an update's replacement document. Consider using an \
                         aggregation pipeline with $replaceWith."
                    )));
                }
                Ok(Update::Replacement(update.clone()))
            }
        }
    }

    /// Apply to `doc` in place. `is_upsert_insert` enables $setOnInsert. Returns whether the
    /// document changed.
    ///
    /// `_id` is immutable: an update that changes it fails with ImmutableField (66). A
    /// replacement without `_id` keeps the old one, first. On error `doc` is left untouched.
    pub fn apply(&self, doc: &mut Document, is_upsert_insert: bool) -> Result<bool, QueryError> {
        let original = doc.clone();
        let result = match self {
            Update::Replacement(replacement) => replace(doc, replacement),
            Update::Operators(operators) => operators.apply_all(doc, is_upsert_insert),
        }
        .and_then(|()| check_id(&original, doc));
        match result {
            Ok(()) => {
                if is_upsert_insert {
                    move_id_first(doc);
                }
                Ok(!identical_documents(&original, doc))
            }
            Err(err) => {
                *doc = original;
                Err(err)
            }
        }
    }
}

// === impl UpdateOperators ===

impl UpdateOperators {
    fn apply_all(&self, doc: &mut Document, is_upsert_insert: bool) -> Result<(), QueryError> {
        let id = doc.get("_id").cloned();
        for modification in &self.modifications {
            modification.apply(doc, is_upsert_insert, id.as_ref())?;
        }
        Ok(())
    }
}

fn replace(doc: &mut Document, replacement: &Document) -> Result<(), QueryError> {
    let mut replaced = Document::new();
    match (doc.get("_id"), replacement.get("_id")) {
        (Some(old), Some(new)) if !identical(old, new) => {
            return Err(QueryError::immutable_field(format!(
                "After applying the update, the (immutable) field '_id' was found to have been \
                 altered to _id: {new}"
            )));
        }
        (Some(id), _) | (None, Some(id)) => {
            replaced.insert("_id", id.clone());
        }
        (None, None) => {}
    }
    for (key, value) in replacement {
        if key != "_id" {
            replaced.insert(key.clone(), value.clone());
        }
    }
    *doc = replaced;
    Ok(())
}

fn check_id(before: &Document, after: &Document) -> Result<(), QueryError> {
    if let Some(old) = before.get("_id") {
        if !after.get("_id").is_some_and(|new| identical(old, new)) {
            return Err(QueryError::immutable_field(
                "Performing an update on the path '_id' would modify the immutable field '_id'",
            ));
        }
    }
    match after.get("_id") {
        Some(Bson::Array(_)) => Err(QueryError::invalid_id_field(
            "The '_id' value cannot be of type array",
        )),
        Some(Bson::RegularExpression(_)) => Err(QueryError::invalid_id_field(
            "The '_id' value cannot be of type regex",
        )),
        Some(Bson::Undefined) => Err(QueryError::invalid_id_field(
            "The '_id' value cannot be of type undefined",
        )),
        _ => Ok(()),
    }
}

/// A document about to be inserted starts with `_id`, as MongoDB stores it.
fn move_id_first(doc: &mut Document) {
    if doc.keys().next().is_some_and(|first| first == "_id") {
        return;
    }
    if let Some(id) = doc.remove("_id") {
        let mut ordered = Document::new();
        ordered.insert("_id", id);
        ordered.extend(std::mem::take(doc));
        *doc = ordered;
    }
}

#[cfg(test)]
mod tests;
