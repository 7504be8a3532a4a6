//! Dotted-path resolution, in the two flavours MongoDB uses.
//!
//! The matcher's (`BSONElementIterator`, used by filters): walking "a.b.c" descends through
//! sub-documents. When a step lands on an array and more path remains, the rest of the path is
//! applied to every element that is a document, and a numeric step ("a.0.b") also selects the
//! element at that index. When the path ends on an array, the matcher sees each element and then
//! the array itself, so `{tags: "x"}` matches `{tags: ["x", "y"]}` and `{tags: ["x", "y"]}`
//! matches it too. A path that stops at an absent field yields one "missing" (`None`), which is
//! what lets `{x: null}` match documents without `x`; scalars inside an array that the path
//! continues through yield nothing at all, so `{"a.b": null}` does not match `{a: [1, 2]}`.
//!
//! The value collector's (`getFieldsDotted`, used by `distinct`): the values the path reaches,
//! searching arrays in the middle of the path element by element (or indexing them with a
//! numeric step), with missing values left out.

use bson::{Bson, Document};

/// What the matcher produces when the path ends on an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeafArrays {
    /// Each element, then the array itself (equality, comparisons, `$in`, `$type`, …).
    Expand,
    /// Only the array (`$size`, `$elemMatch`).
    Keep,
}

/// The values `path` reaches in `doc`: arrays in the middle of the path are searched element by
/// element (a numeric step indexes them instead), an array at the end is returned whole, and
/// missing fields contribute nothing. `{a: [{b: 1}, {b: [2, 3]}, {c: 4}]}` gives `[1, [2, 3]]`
/// for "a.b".
pub fn lookup<'a>(doc: &'a Document, path: &str) -> Vec<&'a Bson> {
    collect_values(doc, path, false)
}

/// What the `distinct` command collects for `path`: `lookup` with an array at the end of the
/// path expanded into its elements (one level).
pub fn distinct_values<'a>(doc: &'a Document, path: &str) -> Vec<&'a Bson> {
    collect_values(doc, path, true)
}

/// Every value the matcher tests for `path` in `doc`; `None` stands for a missing field.
pub(crate) fn matcher_values<'a>(
    doc: &'a Document,
    path: &str,
    leaf: LeafArrays,
) -> Vec<Option<&'a Bson>> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    walk_document(doc, &parts, leaf, &mut out);
    out
}

/// `getFieldDottedOrArray` followed by the array handling of the iterator.
fn walk_document<'a>(
    doc: &'a Document,
    parts: &[&str],
    leaf: LeafArrays,
    out: &mut Vec<Option<&'a Bson>>,
) {
    let mut current = doc;
    let mut rest = parts;
    while let Some((first, tail)) = rest.split_first() {
        match current.get(*first) {
            None => break,
            Some(Bson::Document(inner)) if !tail.is_empty() => {
                current = inner;
                rest = tail;
            }
            Some(array @ Bson::Array(items)) => {
                walk_array(array, items, tail, leaf, out);
                return;
            }
            // A scalar in the middle of the path means the path does not exist.
            Some(value) => {
                out.push(tail.is_empty().then_some(value));
                return;
            }
        }
    }
    out.push(None);
}

fn walk_array<'a>(
    array: &'a Bson,
    items: &'a [Bson],
    rest: &[&str],
    leaf: LeafArrays,
    out: &mut Vec<Option<&'a Bson>>,
) {
    let Some((next, after_next)) = rest.split_first() else {
        if leaf == LeafArrays::Expand {
            out.extend(items.iter().map(Some));
        }
        out.push(Some(array));
        return;
    };
    for (index, item) in items.iter().enumerate() {
        let offset_match = is_index_of(next, index);
        match item {
            Bson::Document(inner) => {
                walk_document(inner, rest, leaf, out);
                if offset_match {
                    descend_at_offset(item, after_next, leaf, out);
                }
            }
            _ if offset_match => descend_at_offset(item, after_next, leaf, out),
            _ => {}
        }
    }
}

/// The element at a numeric path step: it is the result when the path ends there (without
/// expanding it if it is an array), otherwise the rest of the path continues inside it.
fn descend_at_offset<'a>(
    item: &'a Bson,
    rest: &[&str],
    leaf: LeafArrays,
    out: &mut Vec<Option<&'a Bson>>,
) {
    if rest.is_empty() {
        out.push(Some(item));
        return;
    }
    match item {
        Bson::Document(inner) => walk_document(inner, rest, leaf, out),
        Bson::Array(inner) => walk_array(item, inner, rest, leaf, out),
        _ => {}
    }
}

fn collect_values<'a>(doc: &'a Document, path: &str, expand_trailing: bool) -> Vec<&'a Bson> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    values_in_document(doc, &parts, expand_trailing, &mut out);
    out
}

fn values_in_document<'a>(
    doc: &'a Document,
    parts: &[&str],
    expand_trailing: bool,
    out: &mut Vec<&'a Bson>,
) {
    if let Some((first, rest)) = parts.split_first() {
        if let Some(value) = doc.get(*first) {
            values_in_value(value, rest, expand_trailing, out);
        }
    }
}

fn values_in_value<'a>(
    value: &'a Bson,
    rest: &[&str],
    expand_trailing: bool,
    out: &mut Vec<&'a Bson>,
) {
    let Some((next, after_next)) = rest.split_first() else {
        match value {
            Bson::Array(items) if expand_trailing => out.extend(items.iter()),
            other => out.push(other),
        }
        return;
    };
    match value {
        Bson::Document(inner) => values_in_document(inner, rest, expand_trailing, out),
        // A numeric step indexes the array (and does not also search its elements).
        Bson::Array(items) if next.bytes().all(|b| b.is_ascii_digit()) => {
            if let Some(item) = items
                .iter()
                .enumerate()
                .find(|(index, _)| is_index_of(next, *index))
                .map(|(_, item)| item)
            {
                values_in_value(item, after_next, expand_trailing, out);
            }
        }
        Bson::Array(items) => {
            for item in items {
                if let Bson::Document(inner) = item {
                    values_in_document(inner, rest, expand_trailing, out);
                }
            }
        }
        _ => {}
    }
}

/// A path step selects an array index only when it is that index spelt in canonical decimal
/// (MongoDB compares the step with the element's field name "0", "1", …).
fn is_index_of(step: &str, index: usize) -> bool {
    !step.is_empty() && step.bytes().all(|b| b.is_ascii_digit()) && step == index.to_string()
}

#[cfg(test)]
mod tests;
