//! Evaluating a parsed projection against a document.

use bson::{Bson, Document};

use super::{Node, Spec};

/// Inclusion: copy the projected fields in source order, then append computed fields and
/// `$elemMatch` results in specification order.
pub(super) fn include(node: &Node, source: &Document, root: &Document) -> Document {
    let mut out = Document::new();
    for (name, value) in source {
        match node.get(name) {
            Some(Spec::Include) => {
                out.insert(name.clone(), value.clone());
            }
            Some(Spec::Sub(child)) => {
                if let Some(projected) = include_value(child, value, root) {
                    out.insert(name.clone(), projected);
                }
            }
            Some(Spec::Slice(slice)) => {
                out.insert(name.clone(), sliced(*slice, value));
            }
            _ => {}
        }
    }
    for (name, spec) in &node.fields {
        match spec {
            Spec::Computed(expr) => {
                if let Some(value) = expr.eval(root) {
                    out.insert(name.clone(), value);
                }
            }
            Spec::ElemMatch(elem_match) => {
                if let Some(Bson::Array(items)) = source.get(name) {
                    if let Some(item) = elem_match.first_match(items).and_then(|i| items.get(i)) {
                        out.insert(name.clone(), Bson::Array(vec![item.clone()]));
                    }
                }
            }
            // {"a.b": <expr>} on a document where `a` is missing or a scalar creates `a`.
            Spec::Sub(child)
                if child.has_computed()
                    && !matches!(source.get(name), Some(Bson::Document(_) | Bson::Array(_))) =>
            {
                out.insert(name.clone(), include(child, &Document::new(), root));
            }
            _ => {}
        }
    }
    out
}

/// A value under a projected sub-path: documents are projected, arrays element by element
/// (scalars inside them are dropped, unless computed fields replace them with a document), and
/// scalars are dropped.
fn include_value(node: &Node, value: &Bson, root: &Document) -> Option<Bson> {
    match value {
        Bson::Document(doc) => Some(Bson::Document(include(node, doc, root))),
        Bson::Array(items) => Some(Bson::Array(
            items
                .iter()
                .filter_map(|item| match item {
                    Bson::Document(_) | Bson::Array(_) => include_value(node, item, root),
                    _ if node.has_computed() => {
                        Some(Bson::Document(include(node, &Document::new(), root)))
                    }
                    _ => None,
                })
                .collect(),
        )),
        _ => None,
    }
}

/// Exclusion: copy everything except the excluded paths; scalars on an excluded sub-path stay.
pub(super) fn exclude(node: &Node, source: &Document) -> Document {
    let mut out = Document::new();
    for (name, value) in source {
        match node.get(name) {
            Some(Spec::Exclude) => {}
            Some(Spec::Sub(child)) => {
                out.insert(name.clone(), exclude_value(child, value));
            }
            Some(Spec::Slice(slice)) => {
                out.insert(name.clone(), sliced(*slice, value));
            }
            _ => {
                out.insert(name.clone(), value.clone());
            }
        }
    }
    out
}

fn exclude_value(node: &Node, value: &Bson) -> Bson {
    match value {
        Bson::Document(doc) => Bson::Document(exclude(node, doc)),
        Bson::Array(items) => {
            Bson::Array(items.iter().map(|item| exclude_value(node, item)).collect())
        }
        other => other.clone(),
    }
}

fn sliced(slice: super::Slice, value: &Bson) -> Bson {
    match value {
        Bson::Array(items) => Bson::Array(slice.apply(items)),
        other => other.clone(),
    }
}
