//! The parsed form of a filter and how it is evaluated. It mirrors MongoDB's MatchExpression
//! tree: logical nodes over path predicates, where each predicate is tested against every value
//! the path produces (see `path.rs`) and matches when any of them does. Negations (`$ne`,
//! `$nin`, `$not`, `$exists: false`) negate the whole path-level result, which is why
//! `{tags: {$ne: "a"}}` rejects `{tags: ["a", "b"]}` and accepts documents without `tags`.

use std::cmp::Ordering;

use bson::{Bson, Document};

use crate::query::bson_type::TypeSet;
use crate::query::compare::{bracket, compare, equal};
use crate::query::number::Number;
use crate::query::path::{matcher_values, LeafArrays};
use crate::query::pattern::Pattern;

#[derive(Debug, Clone)]
pub(crate) enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Nor(Vec<Node>),
    Path(String, Pred),
    /// `$alwaysTrue` / `$alwaysFalse`.
    Const(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

#[derive(Debug, Clone)]
pub(crate) enum Pred {
    Cmp(CmpOp, Bson),
    In(InList),
    Regex(Pattern),
    Exists,
    Type(TypeSet),
    Mod {
        divisor: i64,
        remainder: i64,
    },
    Size(i64),
    ElemMatchObject(Box<Node>),
    ElemMatchValue(Vec<Pred>),
    And(Vec<Pred>),
    Not(Box<Pred>),
    /// `$all: []` matches nothing.
    Never,
}

/// The argument of `$in`: plain values, regular expressions, and whether null is among them
/// (then missing fields match too, as with `{$eq: null}`).
#[derive(Debug, Clone)]
pub(crate) struct InList {
    pub(crate) values: Vec<Bson>,
    pub(crate) regexes: Vec<Pattern>,
    pub(crate) has_null: bool,
}

// === impl Node ===

impl Node {
    pub(crate) fn matches(&self, doc: &Document) -> bool {
        match self {
            Node::And(children) => children.iter().all(|child| child.matches(doc)),
            Node::Or(children) => children.iter().any(|child| child.matches(doc)),
            Node::Nor(children) => !children.iter().any(|child| child.matches(doc)),
            Node::Path(path, pred) => pred.matches_path(doc, path),
            Node::Const(value) => *value,
        }
    }
}

// === impl CmpOp ===

impl CmpOp {
    fn accepts(self, order: Ordering) -> bool {
        match self {
            CmpOp::Eq => order == Ordering::Equal,
            CmpOp::Lt => order == Ordering::Less,
            CmpOp::Lte => order != Ordering::Greater,
            CmpOp::Gt => order == Ordering::Greater,
            CmpOp::Gte => order != Ordering::Less,
        }
    }
}

// === impl Pred ===

impl Pred {
    pub(crate) fn matches_path(&self, doc: &Document, path: &str) -> bool {
        match self {
            Pred::And(preds) => preds.iter().all(|pred| pred.matches_path(doc, path)),
            Pred::Not(pred) => !pred.matches_path(doc, path),
            Pred::Never => false,
            _ => {
                // Array operators look at arrays as a whole; the others at each element too.
                let leaf = match self {
                    Pred::Size(_) | Pred::ElemMatchObject(_) | Pred::ElemMatchValue(_) => {
                        LeafArrays::Keep
                    }
                    _ => LeafArrays::Expand,
                };
                matcher_values(doc, path, leaf)
                    .into_iter()
                    .any(|value| self.matches_single(value))
            }
        }
    }

    /// The predicate applied to one value (`None` = missing), without any array expansion.
    pub(crate) fn matches_single(&self, value: Option<&Bson>) -> bool {
        match self {
            Pred::Cmp(op, rhs) => compare_matches(*op, rhs, value),
            Pred::In(list) => list.matches(value),
            Pred::Regex(pattern) => value.is_some_and(|v| pattern.matches_value(v)),
            Pred::Exists => value.is_some(),
            Pred::Type(types) => value.is_some_and(|v| types.contains(v)),
            Pred::Mod { divisor, remainder } => value
                .and_then(Number::of)
                .and_then(|number| number.trunc_i64())
                // i64::MIN % -1 overflows; MongoDB's safeMod defines it as 0.
                .is_some_and(|dividend| dividend.checked_rem(*divisor).unwrap_or(0) == *remainder),
            Pred::Size(size) => matches!(value, Some(Bson::Array(items))
                if i64::try_from(items.len()).is_ok_and(|len| len == *size)),
            Pred::ElemMatchObject(_) | Pred::ElemMatchValue(_) => match value {
                Some(Bson::Array(items)) => self.first_matching_element(items).is_some(),
                _ => false,
            },
            Pred::And(preds) => preds.iter().all(|pred| pred.matches_single(value)),
            Pred::Not(pred) => !pred.matches_single(value),
            Pred::Never => false,
        }
    }

    /// For `$elemMatch`: the index of the first array element that satisfies it.
    pub(crate) fn first_matching_element(&self, items: &[Bson]) -> Option<usize> {
        items.iter().position(|item| match self {
            // Arrays count as objects here (keys "0", "1", …), as in MongoDB.
            Pred::ElemMatchObject(node) => match item {
                Bson::Document(inner) => node.matches(inner),
                Bson::Array(inner) => node.matches(&array_as_document(inner)),
                _ => false,
            },
            Pred::ElemMatchValue(preds) => preds.iter().all(|pred| pred.matches_single(Some(item))),
            _ => false,
        })
    }
}

// === impl InList ===

impl InList {
    fn matches(&self, value: Option<&Bson>) -> bool {
        match value {
            None => self.has_null,
            Some(value) => {
                self.values.iter().any(|candidate| equal(value, candidate))
                    || self.regexes.iter().any(|regex| regex.matches_value(value))
            }
        }
    }
}

/// `$eq`, `$lt`, … on one value. Values of different type brackets never match (so
/// `{age: {$lt: 100}}` ignores strings), except that MinKey and MaxKey bound everything and a
/// missing field compares like null.
fn compare_matches(op: CmpOp, rhs: &Bson, value: Option<&Bson>) -> bool {
    let value = value.unwrap_or(&Bson::Null);
    if bracket(value) != bracket(rhs) {
        return match rhs {
            Bson::MaxKey => matches!(op, CmpOp::Lt | CmpOp::Lte),
            Bson::MinKey => matches!(op, CmpOp::Gt | CmpOp::Gte),
            _ => false,
        };
    }
    if op != CmpOp::Eq {
        // "NaN is equal to NaN but otherwise always compares to false."
        let value_nan = Number::of(value).is_some_and(|n| n.is_nan());
        let rhs_nan = Number::of(rhs).is_some_and(|n| n.is_nan());
        if value_nan || rhs_nan {
            return value_nan && rhs_nan && matches!(op, CmpOp::Lte | CmpOp::Gte);
        }
    }
    op.accepts(compare(value, rhs))
}

fn array_as_document(items: &[Bson]) -> Document {
    items
        .iter()
        .enumerate()
        .map(|(index, item)| (index.to_string(), item.clone()))
        .collect()
}
