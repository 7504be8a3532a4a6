//! Applying one modification to a document.

use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};

use bson::{Bson, DateTime, Document, Timestamp};

use super::arith::{Arith, ArithError};
use super::array::{add_to_set, pop};
use super::field_path::{array_on_path, get, set, unset};
use super::parse::{DateKind, FieldPath, Modification, Op};
use crate::query::bson_type::type_name;
use crate::query::compare::compare;
use crate::query::error::QueryError;
use crate::query::number::Number;

/// Distinguishes timestamps generated within the same second, as MongoDB's do.
static TIMESTAMP_INCREMENT: AtomicU32 = AtomicU32::new(1);

// === impl Modification ===

impl Modification {
    /// `id` is the document's `_id` before the update, for error messages.
    pub(super) fn apply(
        &self,
        doc: &mut Document,
        is_upsert_insert: bool,
        id: Option<&Bson>,
    ) -> Result<(), QueryError> {
        let parts = &self.path.parts;
        match &self.op {
            Op::Set(value) => set(doc, parts, value.clone()),
            Op::SetOnInsert(value) if is_upsert_insert => set(doc, parts, value.clone()),
            Op::SetOnInsert(_) => Ok(()),
            Op::Unset => {
                unset(doc, parts);
                Ok(())
            }
            Op::Inc(operand) => self.arithmetic(doc, Arith::Add, *operand, id),
            Op::Mul(operand) => self.arithmetic(doc, Arith::Mul, *operand, id),
            Op::Min(value) | Op::Max(value) => {
                let wanted = if matches!(self.op, Op::Min(_)) {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                };
                match get(doc, parts) {
                    Some(current) if compare(value, current) != wanted => Ok(()),
                    _ => set(doc, parts, value.clone()),
                }
            }
            Op::CurrentDate(kind) => set(doc, parts, now(*kind)),
            Op::Rename { from } => rename(doc, from, &self.path),
            Op::Push(push) => {
                let array = self.existing_array(doc, "$push", id)?;
                set(doc, parts, Bson::Array(push.apply(array)))
            }
            Op::AddToSet(items) => {
                let array = self.existing_array(doc, "$addToSet", id)?;
                set(doc, parts, Bson::Array(add_to_set(array, items)))
            }
            Op::Pull(condition) => self.filter_array(doc, |item| !condition.matches(item)),
            Op::PullAll(values) => self.filter_array(doc, |item| {
                !values
                    .iter()
                    .any(|value| crate::query::compare::equal(item, value))
            }),
            Op::Pop(end) => match get(doc, parts) {
                None => Ok(()),
                Some(Bson::Array(items)) if items.is_empty() => Ok(()),
                Some(Bson::Array(items)) => {
                    let popped = pop(items.clone(), *end);
                    set(doc, parts, Bson::Array(popped))
                }
                Some(other) => Err(QueryError::bad_value(format!(
                    "Path '{}' contains an element of non-array type '{}'",
                    self.path.dotted,
                    type_name(other)
                ))),
            },
        }
    }

    fn arithmetic(
        &self,
        doc: &mut Document,
        arith: Arith,
        operand: Number,
        id: Option<&Bson>,
    ) -> Result<(), QueryError> {
        let (name, verb) = match arith {
            Arith::Add => ("$inc", "increment"),
            Arith::Mul => ("$mul", "multiply"),
        };
        let result = match get(doc, &self.path.parts) {
            // A missing field gets the operand ($inc) or a zero of the operand's type ($mul).
            None => match arith {
                Arith::Add => operand,
                Arith::Mul => zero_like(operand),
            },
            Some(current) => {
                let Some(current_number) = Number::of(current) else {
                    return Err(QueryError::type_mismatch(format!(
                        "Cannot apply {name} to a value of non-numeric type. {} has the field \
                         '{}' of non-numeric type {}",
                        describe_id(id),
                        self.path.parts.last().map_or("", String::as_str),
                        type_name(current)
                    )));
                };
                match arith.apply(current_number, operand) {
                    Ok(result) => result,
                    Err(ArithError::Overflow) => {
                        return Err(QueryError::bad_value(format!(
                            "Failed to apply {name} operations to current value ({current}) for \
                             document {}",
                            describe_id(id)
                        )))
                    }
                    Err(ArithError::Decimal) => {
                        return Err(QueryError::unsupported(format!(
                            "Decimal128 arithmetic (cannot {verb} field '{}')",
                            self.path.dotted
                        )))
                    }
                }
            }
        };
        set(doc, &self.path.parts, result.to_bson())
    }

    /// The current array for `$push`/`$addToSet`; a missing field starts empty.
    fn existing_array(
        &self,
        doc: &Document,
        operator: &str,
        id: Option<&Bson>,
    ) -> Result<Vec<Bson>, QueryError> {
        match get(doc, &self.path.parts) {
            None => Ok(Vec::new()),
            Some(Bson::Array(items)) => Ok(items.clone()),
            Some(other) if operator == "$addToSet" => Err(QueryError::bad_value(format!(
                "Cannot apply $addToSet to non-array field. Field named '{}' has non-array type {}",
                self.path.parts.last().map_or("", String::as_str),
                type_name(other)
            ))),
            Some(other) => Err(QueryError::bad_value(format!(
                "The field '{}' must be an array but is of type {} in document {}",
                self.path.dotted,
                type_name(other),
                describe_id(id)
            ))),
        }
    }

    /// `$pull`/`$pullAll`: keeps the elements `keep` accepts; a missing field is left alone.
    fn filter_array(
        &self,
        doc: &mut Document,
        keep: impl Fn(&Bson) -> bool,
    ) -> Result<(), QueryError> {
        match get(doc, &self.path.parts) {
            None => Ok(()),
            Some(Bson::Array(items)) => {
                let kept: Vec<Bson> = items.iter().filter(|item| keep(item)).cloned().collect();
                if kept.len() == items.len() {
                    return Ok(());
                }
                set(doc, &self.path.parts, Bson::Array(kept))
            }
            Some(_) => Err(QueryError::bad_value(
                "Cannot apply $pull to a non-array value",
            )),
        }
    }
}

fn rename(doc: &mut Document, from: &FieldPath, to: &FieldPath) -> Result<(), QueryError> {
    if let Some(array) = array_on_path(doc, &from.parts) {
        return Err(QueryError::bad_value(format!(
            "The source field cannot be an array element, '{}' in doc with {array} has an array \
             field called {array}",
            from.dotted
        )));
    }
    let Some(value) = get(doc, &from.parts).cloned() else {
        return Ok(());
    };
    if let Some(array) = array_on_path(doc, &to.parts) {
        return Err(QueryError::bad_value(format!(
            "The destination field cannot be an array element, '{}' in doc with {array} has an \
             array field called {array}",
            to.dotted
        )));
    }
    set(doc, &to.parts, value)?;
    unset(doc, &from.parts);
    Ok(())
}

fn zero_like(operand: Number) -> Number {
    match operand {
        Number::Int32(_) => Number::Int32(0),
        Number::Int64(_) => Number::Int64(0),
        Number::Double(_) | Number::Decimal(_) => Number::Double(0.0),
    }
}

fn now(kind: DateKind) -> Bson {
    let current = DateTime::now();
    match kind {
        DateKind::Date => Bson::DateTime(current),
        DateKind::Timestamp => {
            let seconds = u32::try_from(current.timestamp_millis() / 1000).unwrap_or(u32::MAX);
            Bson::Timestamp(Timestamp {
                time: seconds,
                increment: TIMESTAMP_INCREMENT.fetch_add(1, AtomicOrdering::Relaxed),
            })
        }
    }
}

fn describe_id(id: Option<&Bson>) -> String {
    match id {
        Some(id) => format!("{{_id: {id}}}"),
        None => "{}".to_owned(),
    }
}
