//! Query filters (`find`, `update`'s `q`, `$match`, …) evaluated with MongoDB's semantics.
//!
//! Supported: `$eq $ne $gt $gte $lt $lte $in $nin $exists $type $mod $regex/$options $size $all
//! $elemMatch $not $and $or $nor $comment $alwaysTrue $alwaysFalse`, implicit equality and
//! regular-expression values. `$where $expr $text $jsonSchema $sampleRate`, the geo operators and
//! the `$bits*` operators are refused with an "unsupported" error.

use bson::{Bson, Document};

use super::error::QueryError;

mod parse;
mod seed;
mod tree;

pub(crate) use parse::is_path_operator;

/// A parsed, validated query filter.
#[derive(Debug, Clone)]
pub struct Filter {
    root: tree::Node,
}

// === impl Filter ===

impl Filter {
    /// Validates the whole filter up front: unknown operators, malformed arguments and invalid
    /// regular expressions are errors here, never silent non-matches later.
    pub fn parse(filter: &Document) -> Result<Filter, QueryError> {
        Ok(Filter {
            root: parse::parse_document(filter)?,
        })
    }

    pub fn matches(&self, doc: &Document) -> bool {
        self.root.matches(doc)
    }

    /// Equality fields MongoDB copies into a document created by an upsert: top-level
    /// `field: value` (non-operator, non-regex) and `{field: {$eq: v}}` pairs, also inside a
    /// top-level `$and`; dotted paths create nested documents. `_id` included when present.
    ///
    /// As in MongoDB (which collects them in a `std::map`), the fields come out ordered by path,
    /// with `_id` moved first. Two conditions on the same path, or on a path and its prefix, are
    /// an error (54 NotSingleValueField).
    pub fn upsert_seed(&self) -> Result<Document, QueryError> {
        seed::upsert_seed(&self.root)
    }

    /// If the filter pins `_id` to one exact value (top-level `_id: v` or `_id: {$eq: v}`, v not
    /// a regex/operator doc), that value — used by the store as a point-lookup prefilter.
    ///
    /// Only values the store keys canonically are returned (ObjectId, string, numbers, binary,
    /// boolean, date, timestamp): `1`, `1.0` and `Int64(1)` share one store key
    /// (`store::keys`), so a point lookup finds the document whichever type was stored.
    /// Decimal128 and documents are left out: their store keys are their exact bytes.
    pub fn id_equality(&self) -> Option<&Bson> {
        seed::id_equality(&self.root)
    }
}

/// The `$elemMatch` operator on its own, for the `$elemMatch` projection.
#[derive(Debug, Clone)]
pub(crate) struct ElemMatch(tree::Pred);

// === impl ElemMatch ===

impl ElemMatch {
    pub(crate) fn parse(spec: &Bson) -> Result<Self, QueryError> {
        parse::parse_elem_match(spec).map(ElemMatch)
    }

    pub(crate) fn first_match(&self, items: &[Bson]) -> Option<usize> {
        self.0.first_matching_element(items)
    }
}

#[cfg(test)]
pub(crate) mod tests;
