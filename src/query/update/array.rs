//! The array update operators: `$push`, `$addToSet`, `$pull`, `$pullAll` and `$pop`.

use bson::{doc, Bson};

use crate::query::bson_type::type_name;
use crate::query::compare::{compare, equal};
use crate::query::error::QueryError;
use crate::query::filter::{is_path_operator, Filter};
use crate::query::number::Number;
use crate::query::sort::SortSpec;

/// `$push` with its modifiers. A plain value is `$each: [value]`.
#[derive(Debug, Clone)]
pub(super) struct Push {
    items: Vec<Bson>,
    position: Option<i64>,
    sort: Option<PushSort>,
    slice: Option<i64>,
}

#[derive(Debug, Clone)]
enum PushSort {
    /// `$sort: 1` / `$sort: -1` on the elements themselves.
    Values { ascending: bool },
    /// `$sort: {field: 1, …}` on document elements.
    Fields(SortSpec),
}

/// How `$pull` decides which elements go.
#[derive(Debug, Clone)]
pub(super) enum PullCondition {
    /// A plain value: elements equal to it.
    Equals(Bson),
    /// An operator document or regex, tested on each element as a value (`{$gte: 6}`).
    Value(Filter),
    /// A query document, tested on each element that is a document (`{score: 8, item: "B"}`).
    Document(Filter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PopEnd {
    First,
    Last,
}

pub(super) fn parse_push(value: &Bson) -> Result<Push, QueryError> {
    let Bson::Document(spec) = value else {
        return Ok(Push::single(value.clone()));
    };
    let Some(each) = spec.get("$each") else {
        return Ok(Push::single(value.clone()));
    };
    let Bson::Array(items) = each else {
        return Err(QueryError::bad_value(format!(
            "The argument to $each in $push must be an array but it was of type: {}",
            type_name(each)
        )));
    };
    let mut push = Push {
        items: items.clone(),
        position: None,
        sort: None,
        slice: None,
    };
    for (name, argument) in spec {
        match name.as_str() {
            "$each" => {}
            "$slice" => {
                push.slice = Some(integer(argument).ok_or_else(|| {
                    QueryError::bad_value(format!(
                        "The value for $slice must be an integer value but was given type: {}",
                        type_name(argument)
                    ))
                })?);
            }
            "$position" => {
                push.position = Some(integer(argument).ok_or_else(|| {
                    QueryError::bad_value(format!(
                        "The value for $position must be an integer value, not of type: {}",
                        type_name(argument)
                    ))
                })?);
            }
            "$sort" => push.sort = Some(parse_push_sort(argument)?),
            _ => {
                return Err(QueryError::bad_value(format!(
                    "Unrecognized clause in $push: {name}"
                )))
            }
        }
    }
    Ok(push)
}

fn parse_push_sort(argument: &Bson) -> Result<PushSort, QueryError> {
    let invalid = || {
        QueryError::bad_value(
            "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort \
             embedded fields",
        )
    };
    match argument {
        Bson::Document(spec) if spec.is_empty() => Err(QueryError::bad_value(
            "The $sort pattern is empty when it should be a set of fields.",
        )),
        Bson::Document(spec) => {
            if spec.keys().any(|key| key.starts_with('$')) {
                return Err(invalid());
            }
            SortSpec::parse(spec)
                .map(PushSort::Fields)
                .map_err(|_| invalid())
        }
        other => match integer(other) {
            Some(1) => Ok(PushSort::Values { ascending: true }),
            Some(-1) => Ok(PushSort::Values { ascending: false }),
            _ => Err(invalid()),
        },
    }
}

pub(super) fn parse_add_to_set(value: &Bson) -> Result<Vec<Bson>, QueryError> {
    let items = match value {
        Bson::Document(spec) if spec.keys().next().is_some_and(|first| first == "$each") => {
            if spec.len() > 1 {
                return Err(QueryError::bad_value(format!(
                    "Found unexpected fields after $each in $addToSet: {spec}"
                )));
            }
            match spec.get("$each") {
                Some(Bson::Array(items)) => items.clone(),
                other => {
                    return Err(QueryError::type_mismatch(format!(
                        "The argument to $each in $addToSet must be an array but it was of type {}",
                        other.map_or("missing", type_name)
                    )))
                }
            }
        }
        single => vec![single.clone()],
    };
    // Duplicates among the new values collapse too, keeping the first of each.
    let mut unique: Vec<Bson> = Vec::with_capacity(items.len());
    for item in items {
        if !unique.iter().any(|seen| equal(seen, &item)) {
            unique.push(item);
        }
    }
    Ok(unique)
}

pub(super) fn parse_pull(value: &Bson) -> Result<PullCondition, QueryError> {
    match value {
        Bson::Document(spec)
            if spec
                .keys()
                .next()
                .is_some_and(|first| is_path_operator(first)) =>
        {
            Ok(PullCondition::Value(Filter::parse(
                &doc! {"": value.clone()},
            )?))
        }
        Bson::Document(spec) => Ok(PullCondition::Document(Filter::parse(spec)?)),
        Bson::RegularExpression(_) => Ok(PullCondition::Value(Filter::parse(
            &doc! {"": value.clone()},
        )?)),
        other => Ok(PullCondition::Equals(other.clone())),
    }
}

pub(super) fn parse_pull_all(value: &Bson) -> Result<Vec<Bson>, QueryError> {
    match value {
        Bson::Array(items) => Ok(items.clone()),
        other => Err(QueryError::bad_value(format!(
            "$pullAll requires an array argument but was given a {}",
            type_name(other)
        ))),
    }
}

pub(super) fn parse_pop(
    path: &super::parse::FieldPath,
    value: &Bson,
) -> Result<PopEnd, QueryError> {
    let Some(number) = Number::of(value) else {
        return Err(QueryError::failed_to_parse(format!(
            "Expected a number in: {}: {value}",
            path.dotted
        )));
    };
    match number.exact_i64() {
        Some(1) => Ok(PopEnd::Last),
        Some(-1) => Ok(PopEnd::First),
        _ => Err(QueryError::bad_value(format!(
            "$pop expects 1 or -1, found: {value}"
        ))),
    }
}

fn integer(value: &Bson) -> Option<i64> {
    Number::of(value).and_then(|n| n.exact_i64())
}

// === impl Push ===

impl Push {
    fn single(value: Bson) -> Self {
        Push {
            items: vec![value],
            position: None,
            sort: None,
            slice: None,
        }
    }

    /// Insert at `$position` (negative counts from the end), then `$sort`, then `$slice`.
    pub(super) fn apply(&self, mut array: Vec<Bson>) -> Vec<Bson> {
        let len = i64::try_from(array.len()).unwrap_or(i64::MAX);
        let at = match self.position {
            None => len,
            Some(position) if position >= 0 => position.min(len),
            Some(position) => len.saturating_add(position).max(0),
        };
        let at = usize::try_from(at).unwrap_or(array.len()).min(array.len());
        array.splice(at..at, self.items.iter().cloned());
        match &self.sort {
            Some(PushSort::Values { ascending }) => array.sort_by(|a, b| {
                let order = compare(a, b);
                if *ascending {
                    order
                } else {
                    order.reverse()
                }
            }),
            Some(PushSort::Fields(spec)) => array.sort_by(|a, b| match (a, b) {
                (Bson::Document(x), Bson::Document(y)) => spec.compare(x, y),
                _ => compare(a, b),
            }),
            None => {}
        }
        if let Some(slice) = self.slice {
            let len = array.len();
            let keep = usize::try_from(slice.unsigned_abs())
                .unwrap_or(usize::MAX)
                .min(len);
            if slice >= 0 {
                array.truncate(keep);
            } else {
                array.drain(..len - keep);
            }
        }
        array
    }
}

// === impl PullCondition ===

impl PullCondition {
    pub(super) fn matches(&self, item: &Bson) -> bool {
        match self {
            PullCondition::Equals(value) => equal(item, value),
            PullCondition::Value(filter) => filter.matches(&doc! {"": item.clone()}),
            PullCondition::Document(filter) => {
                matches!(item, Bson::Document(inner) if filter.matches(inner))
            }
        }
    }
}

/// `$addToSet`: appends the values not already present (by MongoDB equality).
pub(super) fn add_to_set(mut array: Vec<Bson>, items: &[Bson]) -> Vec<Bson> {
    for item in items {
        if !array.iter().any(|existing| equal(existing, item)) {
            array.push(item.clone());
        }
    }
    array
}

pub(super) fn pop(mut array: Vec<Bson>, end: PopEnd) -> Vec<Bson> {
    if !array.is_empty() {
        match end {
            PopEnd::First => {
                array.remove(0);
            }
            PopEnd::Last => {
                array.pop();
            }
        }
    }
    array
}
