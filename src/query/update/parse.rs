//! Operator update documents → validated modifications in application order.

use std::cmp::Ordering;

use bson::{Bson, Document};

use super::array::{parse_add_to_set, parse_pop, parse_pull, parse_pull_all, parse_push};
use super::array::{PopEnd, PullCondition, Push};
use crate::query::bson_type::type_name;
use crate::query::error::QueryError;
use crate::query::number::Number;

/// One change at one path.
#[derive(Debug, Clone)]
pub(super) struct Modification {
    pub(super) path: FieldPath,
    pub(super) op: Op,
}

#[derive(Debug, Clone)]
pub(super) enum Op {
    Set(Bson),
    SetOnInsert(Bson),
    Unset,
    Inc(Number),
    Mul(Number),
    Min(Bson),
    Max(Bson),
    CurrentDate(DateKind),
    /// Registered at the destination path.
    Rename {
        from: FieldPath,
    },
    Push(Push),
    AddToSet(Vec<Bson>),
    Pull(PullCondition),
    PullAll(Vec<Bson>),
    Pop(PopEnd),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DateKind {
    Date,
    Timestamp,
}

/// A dotted update path, kept both whole (for messages) and split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldPath {
    pub(super) dotted: String,
    pub(super) parts: Vec<String>,
}

// === impl FieldPath ===

impl FieldPath {
    pub(super) fn parse(dotted: &str) -> Result<FieldPath, QueryError> {
        if dotted.is_empty() {
            return Err(QueryError::empty_field_name(
                "An empty update path is not valid.",
            ));
        }
        let parts: Vec<String> = dotted.split('.').map(str::to_owned).collect();
        for part in &parts {
            if part.is_empty() {
                return Err(QueryError::empty_field_name(format!(
                    "The update path '{dotted}' contains an empty field name, which is not allowed."
                )));
            }
            if part == "$" || part.starts_with("$[") {
                return Err(QueryError::unsupported(format!(
                    "the positional update operator in '{dotted}' (positional $, $[] and \
                     $[<identifier>] with arrayFilters)"
                )));
            }
            if part.starts_with('$') {
                return Err(QueryError::dollar_prefixed(format!(
                    "The dollar ($) prefixed field '{part}' in '{dotted}' is not valid for storage."
                )));
            }
        }
        Ok(FieldPath {
            dotted: dotted.to_owned(),
            parts,
        })
    }

    /// True when `self` equals `other` or is a prefix of it, component by component.
    fn covers(&self, other: &FieldPath) -> bool {
        self.parts.len() <= other.parts.len()
            && self.parts.iter().zip(&other.parts).all(|(a, b)| a == b)
    }

    /// MongoDB applies updates in field-name order per level, numeric names numerically.
    fn application_order(&self, other: &FieldPath) -> Ordering {
        for (a, b) in self.parts.iter().zip(&other.parts) {
            let order = match (numeric(a), numeric(b)) {
                (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
                _ => a.as_bytes().cmp(b.as_bytes()),
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        self.parts.len().cmp(&other.parts.len())
    }
}

fn numeric(part: &str) -> Option<u128> {
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

pub(super) fn parse_operators(update: &Document) -> Result<Vec<Modification>, QueryError> {
    let mut modifications = Vec::new();
    // Every path an operator touches, for conflict detection ($rename touches two).
    let mut touched: Vec<FieldPath> = Vec::new();
    for (operator, argument) in update {
        let Bson::Document(fields) = argument else {
            if !is_known(operator) {
                return Err(unknown_modifier(operator));
            }
            return Err(QueryError::failed_to_parse(format!(
                "Modifiers operate on fields but we found type {} instead. For example: \
                 {{$mod: {{<field>: ...}}}} not {{{operator}: {argument}}}",
                type_name(argument)
            )));
        };
        if !is_known(operator) {
            return Err(unknown_modifier(operator));
        }
        if operator == "$bit" {
            return Err(QueryError::unsupported("the $bit update operator"));
        }
        for (dotted, value) in fields {
            let path = FieldPath::parse(dotted)?;
            let (path, op) = if operator == "$rename" {
                touched.push(path.clone());
                parse_rename(path, value)?
            } else {
                let op = parse_op(operator, &path, value)?;
                (path, op)
            };
            touched.push(path.clone());
            modifications.push(Modification { path, op });
        }
    }
    check_conflicts(&touched)?;
    modifications.sort_by(|a, b| a.path.application_order(&b.path));
    Ok(modifications)
}

const OPERATORS: &[&str] = &[
    "$set",
    "$unset",
    "$inc",
    "$mul",
    "$min",
    "$max",
    "$rename",
    "$setOnInsert",
    "$currentDate",
    "$push",
    "$addToSet",
    "$pull",
    "$pullAll",
    "$pop",
    "$bit",
];

fn is_known(operator: &str) -> bool {
    OPERATORS.contains(&operator)
}

fn unknown_modifier(operator: &str) -> QueryError {
    QueryError::failed_to_parse(format!(
        "Unknown modifier: {operator}. Expected a valid update modifier or pipeline-style update \
         specified as an array"
    ))
}

fn parse_op(operator: &str, path: &FieldPath, value: &Bson) -> Result<Op, QueryError> {
    Ok(match operator {
        "$set" => Op::Set(value.clone()),
        "$setOnInsert" => Op::SetOnInsert(value.clone()),
        "$unset" => Op::Unset,
        "$inc" | "$mul" => {
            let verb = if operator == "$inc" {
                "increment"
            } else {
                "multiply"
            };
            let number = Number::of(value).ok_or_else(|| {
                QueryError::type_mismatch(format!(
                    "Cannot {verb} with non-numeric argument: {{{}: {value}}}",
                    path.dotted
                ))
            })?;
            if let Number::Decimal(_) = number {
                return Err(QueryError::unsupported(format!(
                    "{operator} with a Decimal128 argument"
                )));
            }
            if operator == "$inc" {
                Op::Inc(number)
            } else {
                Op::Mul(number)
            }
        }
        "$min" => Op::Min(value.clone()),
        "$max" => Op::Max(value.clone()),
        "$currentDate" => Op::CurrentDate(parse_current_date(path, value)?),
        "$push" => Op::Push(parse_push(value)?),
        "$addToSet" => Op::AddToSet(parse_add_to_set(value)?),
        "$pull" => Op::Pull(parse_pull(value)?),
        "$pullAll" => Op::PullAll(parse_pull_all(value)?),
        "$pop" => Op::Pop(parse_pop(path, value)?),
        _ => return Err(unknown_modifier(operator)),
    })
}

fn parse_current_date(path: &FieldPath, value: &Bson) -> Result<DateKind, QueryError> {
    match value {
        Bson::Boolean(_) => Ok(DateKind::Date),
        Bson::Document(spec) => match (spec.len(), spec.get("$type")) {
            (1, Some(Bson::String(kind))) if kind == "date" => Ok(DateKind::Date),
            (1, Some(Bson::String(kind))) if kind == "timestamp" => Ok(DateKind::Timestamp),
            _ => Err(QueryError::bad_value(
                "The '$type' string field is required to be 'date' or 'timestamp': \
                     {$currentDate: {field : {$type: 'date'}}}",
            )),
        },
        _ => Err(QueryError::bad_value(format!(
            "{} is not valid type for $currentDate. Please use a boolean ('true') or a $type \
             expression ({{$type: 'timestamp/date'}}).",
            type_name(value)
        ))),
    }
    .map_err(|err| QueryError {
        message: format!("{} (field '{}')", err.message, path.dotted),
        ..err
    })
}

/// `$rename: {from: "to"}`, registered at the destination.
fn parse_rename(from: FieldPath, to: &Bson) -> Result<(FieldPath, Op), QueryError> {
    let Bson::String(to) = to else {
        return Err(QueryError::bad_value(format!(
            "The 'to' field for $rename must be a string: {}: {to}",
            from.dotted
        )));
    };
    let to = FieldPath::parse(to)?;
    if from == to {
        return Err(QueryError::bad_value(format!(
            "The source and target field for $rename must differ: {}: \"{}\"",
            from.dotted, to.dotted
        )));
    }
    if from.covers(&to) || to.covers(&from) {
        return Err(QueryError::bad_value(format!(
            "The source and target field for $rename must not be on the same path: {}: \"{}\"",
            from.dotted, to.dotted
        )));
    }
    Ok((to, Op::Rename { from }))
}

fn check_conflicts(paths: &[FieldPath]) -> Result<(), QueryError> {
    for (index, earlier) in paths.iter().enumerate() {
        for later in paths.iter().skip(index + 1) {
            let (short, long) = if earlier.parts.len() <= later.parts.len() {
                (earlier, later)
            } else {
                (later, earlier)
            };
            if short.covers(long) {
                return Err(QueryError::conflicting_update(format!(
                    "Updating the path '{}' would create a conflict at '{}'",
                    later.dotted, short.dotted
                )));
            }
        }
    }
    Ok(())
}
