//! What a filter says about the document it selects: the equality fields an upsert copies into
//! the new document, and a pinned `_id` for point lookups.

use bson::{Bson, Document};

use super::tree::{CmpOp, Node, Pred};
use crate::query::compare::equal;
use crate::query::error::QueryError;

pub(super) fn upsert_seed(root: &Node) -> Result<Document, QueryError> {
    let mut equalities = Vec::new();
    collect_equalities(root, &mut equalities);
    equalities.sort_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
    for (index, (path, _)) in equalities.iter().enumerate() {
        for (other, _) in equalities.iter().skip(index + 1) {
            if path == other {
                return Err(QueryError::not_single_value_field(format!(
                    "cannot infer query fields to set, path '{path}' is matched twice"
                )));
            }
            if is_prefix(path, other) || is_prefix(other, path) {
                return Err(QueryError::not_single_value_field(format!(
                    "cannot infer query fields to set, both paths '{other}' and '{path}' are matched"
                )));
            }
        }
    }
    let mut seed = Document::new();
    for (path, value) in equalities {
        insert_path(&mut seed, path, value.clone());
    }
    // A stored document starts with _id.
    if let Some(id) = seed.remove("_id") {
        let mut ordered = Document::new();
        ordered.insert("_id", id);
        ordered.extend(seed);
        seed = ordered;
    }
    Ok(seed)
}

pub(super) fn id_equality(root: &Node) -> Option<&Bson> {
    let mut equalities = Vec::new();
    collect_equalities(root, &mut equalities);
    equalities
        .into_iter()
        .find(|(path, _)| *path == "_id")
        .map(|(_, value)| value)
        // Numbers are included because the store keys every numeric type of one value the
        // same way (store::keys); Decimal128 and composite values are not canonicalised there.
        .filter(|value| {
            matches!(
                value,
                Bson::ObjectId(_)
                    | Bson::String(_)
                    | Bson::Int32(_)
                    | Bson::Int64(_)
                    | Bson::Double(_)
                    | Bson::Binary(_)
                    | Bson::Boolean(_)
                    | Bson::DateTime(_)
                    | Bson::Timestamp(_)
            )
        })
}

/// Equality predicates the way MongoDB sees them after optimising the filter: nested `$and`s are
/// flattened, a one-clause `$or` is its clause, and a one-value `$in` is an equality.
fn collect_equalities<'a>(node: &'a Node, out: &mut Vec<(&'a str, &'a Bson)>) {
    match node {
        Node::And(children) => {
            for child in children {
                collect_equalities(child, out);
            }
        }
        Node::Or(children) if children.len() == 1 => {
            for child in children {
                collect_equalities(child, out);
            }
        }
        Node::Path(path, Pred::Cmp(CmpOp::Eq, value)) => out.push((path, value)),
        Node::Path(path, Pred::In(list)) if list.regexes.is_empty() => {
            if let Some((first, rest)) = list.values.split_first() {
                if rest.iter().all(|other| equal(first, other)) {
                    out.push((path, first));
                }
            }
        }
        _ => {}
    }
}

fn is_prefix(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.starts_with('.'))
}

/// Sets `path` in a document being built, creating sub-documents; paths were checked not to
/// overlap, so an intermediate is always absent or a document this function created.
fn insert_path(doc: &mut Document, path: &str, value: Bson) {
    match path.split_once('.') {
        None => {
            doc.insert(path, value);
        }
        Some((head, tail)) => {
            let child = doc
                .entry(head.to_owned())
                .or_insert_with(|| Bson::Document(Document::new()));
            if let Bson::Document(inner) = child {
                insert_path(inner, tail, value);
            }
        }
    }
}
