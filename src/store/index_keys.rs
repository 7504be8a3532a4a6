//! The entries a document contributes to a unique index.
//!
//! As in MongoDB: a missing field indexes as null (so two documents without the field collide
//! in a unique index) unless the index is sparse, and an array field contributes one entry per
//! element ("multikey"), so uniqueness holds per element.

use super::catalog::IndexMeta;
use super::keys;
use bson::{Bson, Document};

/// One index entry: its store key and the `{field: value}` document shown in E11000 errors.
pub struct Entry {
    pub key: String,
    pub value: Document,
}

/// Cap on entries one document may add to one index (arrays multiply in compound indexes).
const MAX_ENTRIES: usize = 1000;

pub fn entries(index: &IndexMeta, doc: &Document) -> Vec<Entry> {
    let fields: Vec<&str> = index.key.keys().map(String::as_str).collect();
    let per_field: Vec<Vec<Bson>> = fields.iter().map(|f| values_at(doc, f)).collect();
    if index.sparse && per_field.iter().all(|v| v.is_empty()) {
        return Vec::new();
    }
    let mut tuples: Vec<Vec<Bson>> = vec![Vec::new()];
    for values in per_field {
        let values = if values.is_empty() {
            vec![Bson::Null]
        } else {
            values
        };
        let mut next = Vec::new();
        for tuple in &tuples {
            for value in &values {
                if next.len() >= MAX_ENTRIES {
                    break;
                }
                let mut extended = tuple.clone();
                extended.push(value.clone());
                next.push(extended);
            }
        }
        tuples = next;
    }
    tuples
        .into_iter()
        .map(|tuple| Entry {
            key: keys::encode_tuple(tuple.iter()),
            value: fields
                .iter()
                .zip(tuple)
                .map(|(f, v)| (f.to_string(), v))
                .collect(),
        })
        .collect()
}

/// Values found at a dotted path, descending into arrays of documents; an array at the end of
/// the path contributes its elements (an empty array indexes as undefined/null).
fn values_at(doc: &Document, path: &str) -> Vec<Bson> {
    let mut current = vec![Bson::Document(doc.clone())];
    for part in path.split('.') {
        let mut next = Vec::new();
        for value in current {
            match value {
                Bson::Document(d) => {
                    if let Some(v) = d.get(part) {
                        next.push(v.clone());
                    }
                }
                Bson::Array(items) => {
                    if let Some(v) = part.parse::<usize>().ok().and_then(|i| items.get(i)) {
                        next.push(v.clone());
                    } else {
                        for item in items {
                            if let Bson::Document(d) = item {
                                if let Some(v) = d.get(part) {
                                    next.push(v.clone());
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        current = next;
    }
    current
        .into_iter()
        .flat_map(|v| match v {
            Bson::Array(items) if items.is_empty() => vec![Bson::Null],
            Bson::Array(items) => items,
            other => vec![other],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    fn index(key: Document, sparse: bool) -> IndexMeta {
        IndexMeta {
            name: "i".into(),
            key,
            unique: true,
            sparse,
            store: None,
        }
    }

    #[test]
    fn missing_field_indexes_as_null_unless_sparse() {
        let i = index(doc! {"a": 1}, false);
        let e = entries(&i, &doc! {"b": 1});
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].value, doc! {"a": Bson::Null});
        assert!(entries(&index(doc! {"a": 1}, true), &doc! {"b": 1}).is_empty());
    }

    #[test]
    fn compound_keys_and_arrays() {
        let i = index(doc! {"appname": 1, "username": 1}, false);
        let a = entries(&i, &doc! {"appname": "r1", "username": "admin"});
        let b = entries(&i, &doc! {"appname": "r2", "username": "admin"});
        assert_ne!(a[0].key, b[0].key);
        let tags = entries(&index(doc! {"tags": 1}, false), &doc! {"tags": ["x", "y"]});
        assert_eq!(tags.len(), 2);
        let nested = entries(
            &index(doc! {"items.k": 1}, false),
            &doc! {"items": [{"k": 1}, {"k": 2}]},
        );
        assert_eq!(nested.len(), 2);
    }
}
