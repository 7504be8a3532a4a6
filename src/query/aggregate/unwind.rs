//! The `$unwind` stage: one output document per element of an array field.

use bson::{Bson, Document};

use crate::query::error::QueryError;

#[derive(Debug)]
pub(super) struct Unwind {
    path: Vec<String>,
    index_field: Option<Vec<String>>,
    preserve_null_and_empty: bool,
}

// === impl Unwind ===

impl Unwind {
    /// `"$path"` or `{path: "$path", includeArrayIndex: "i", preserveNullAndEmptyArrays: true}`.
    pub(super) fn parse(spec: &Bson) -> Result<Unwind, QueryError> {
        match spec {
            Bson::String(path) => Ok(Unwind {
                path: parse_path(path)?,
                index_field: None,
                preserve_null_and_empty: false,
            }),
            Bson::Document(options) => {
                let mut path = None;
                let mut index_field = None;
                let mut preserve_null_and_empty = false;
                for (name, value) in options {
                    match (name.as_str(), value) {
                        ("path", Bson::String(text)) => path = Some(parse_path(text)?),
                        ("path", _) => {
                            return Err(QueryError::location(
                                28808,
                                "Location28808",
                                "expected a string as the path for $unwind stage",
                            ))
                        }
                        ("includeArrayIndex", Bson::String(field))
                            if !field.is_empty() && !field.starts_with('$') =>
                        {
                            index_field = Some(field.split('.').map(str::to_owned).collect());
                        }
                        ("includeArrayIndex", _) => {
                            return Err(QueryError::location(
                                28822,
                                "Location28822",
                                "includeArrayIndex option to $unwind stage should not be prefixed with a '$'",
                            ))
                        }
                        ("preserveNullAndEmptyArrays", Bson::Boolean(flag)) => {
                            preserve_null_and_empty = *flag;
                        }
                        ("preserveNullAndEmptyArrays", _) => {
                            return Err(QueryError::location(
                                28809,
                                "Location28809",
                                "expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage",
                            ))
                        }
                        _ => {
                            return Err(QueryError::location(
                                28811,
                                "Location28811",
                                format!("unrecognized option to $unwind stage: {name}"),
                            ))
                        }
                    }
                }
                let path = path.ok_or_else(|| {
                    QueryError::location(
                        28812,
                        "Location28812",
                        "no path specified to $unwind stage",
                    )
                })?;
                Ok(Unwind {
                    path,
                    index_field,
                    preserve_null_and_empty,
                })
            }
            _ => Err(QueryError::location(
                15981,
                "Location15981",
                "expected either a string or an object as specification for $unwind stage",
            )),
        }
    }

    pub(super) fn apply(&self, doc: &Document) -> Vec<Document> {
        match get(doc, &self.path) {
            Some(Bson::Array(items)) if !items.is_empty() => items
                .iter()
                .enumerate()
                .map(|(index, item)| {
                    let mut out = doc.clone();
                    set(&mut out, &self.path, item.clone());
                    let index = Bson::Int64(i64::try_from(index).unwrap_or(i64::MAX));
                    self.with_index(out, index)
                })
                .collect(),
            Some(Bson::Array(_)) if self.preserve_null_and_empty => {
                // An empty array is dropped from the preserved document.
                let mut out = doc.clone();
                remove(&mut out, &self.path);
                vec![self.with_index(out, Bson::Null)]
            }
            None | Some(Bson::Null) | Some(Bson::Undefined) if self.preserve_null_and_empty => {
                vec![self.with_index(doc.clone(), Bson::Null)]
            }
            None | Some(Bson::Null) | Some(Bson::Undefined) | Some(Bson::Array(_)) => Vec::new(),
            // A non-array value is unwound as if it were a one-element array.
            Some(_) => vec![self.with_index(doc.clone(), Bson::Null)],
        }
    }

    fn with_index(&self, mut doc: Document, index: Bson) -> Document {
        if let Some(field) = &self.index_field {
            set(&mut doc, field, index);
        }
        doc
    }
}

fn parse_path(text: &str) -> Result<Vec<String>, QueryError> {
    let Some(path) = text.strip_prefix('$') else {
        return Err(QueryError::location(
            28818,
            "Location28818",
            format!("path option to $unwind stage should be prefixed with a '$': {text}"),
        ));
    };
    let parts: Vec<String> = path.split('.').map(str::to_owned).collect();
    if parts
        .iter()
        .any(|part| part.is_empty() || part.starts_with('$'))
    {
        return Err(QueryError::location(
            16410,
            "Location16410",
            format!("invalid $unwind path: {text}"),
        ));
    }
    Ok(parts)
}

/// Field lookup through sub-documents only; arrays on the way mean "missing".
fn get<'a>(doc: &'a Document, path: &[String]) -> Option<&'a Bson> {
    let (first, rest) = path.split_first()?;
    let mut current = doc.get(first)?;
    for part in rest {
        current = match current {
            Bson::Document(inner) => inner.get(part)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Sets a field through sub-documents, creating (or replacing non-documents with) documents.
fn set(doc: &mut Document, path: &[String], value: Bson) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        doc.insert(first.clone(), value);
        return;
    }
    if !matches!(doc.get(first), Some(Bson::Document(_))) {
        doc.insert(first.clone(), Document::new());
    }
    if let Some(Bson::Document(inner)) = doc.get_mut(first) {
        set(inner, rest, value);
    }
}

fn remove(doc: &mut Document, path: &[String]) {
    match path.split_first() {
        Some((last, [])) => {
            doc.remove(last);
        }
        Some((first, rest)) => {
            if let Some(Bson::Document(inner)) = doc.get_mut(first) {
                remove(inner, rest);
            }
        }
        None => {}
    }
}
