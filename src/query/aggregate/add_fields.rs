//! The `$addFields` stage (alias `$set`): computed fields merged into each document. Nested
//! specifications (`{a: {b: "$x"}}`, `{"a.b": "$x"}`) merge into existing sub-documents and into
//! every document of an array, as in MongoDB.

use bson::{Bson, Document};

use crate::query::error::QueryError;
use crate::query::expr::Expr;

#[derive(Debug)]
pub(super) struct AddFields {
    fields: Vec<(String, Field)>,
}

#[derive(Debug)]
enum Field {
    Value(Expr),
    Sub(Vec<(String, Field)>),
}

// === impl AddFields ===

impl AddFields {
    pub(super) fn parse(stage: &str, spec: &Document) -> Result<AddFields, QueryError> {
        if spec.is_empty() {
            return Err(QueryError::location(
                40177,
                "Location40177",
                format!(
                    "Invalid {stage} :: caused by :: specification must have at least one field"
                ),
            ));
        }
        let mut fields = Vec::new();
        add_spec(&mut fields, "", spec, stage)?;
        Ok(AddFields { fields })
    }

    /// Every expression sees the input document, not the fields added before it.
    pub(super) fn apply(&self, doc: &Document) -> Document {
        let mut out = doc.clone();
        apply_fields(&mut out, &self.fields, doc);
        out
    }
}

fn add_spec(
    fields: &mut Vec<(String, Field)>,
    prefix: &str,
    spec: &Document,
    stage: &str,
) -> Result<(), QueryError> {
    for (name, value) in spec {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            if name.contains('.') {
                return Err(QueryError::location(
                    16412,
                    "Location16412",
                    format!("FieldPath field names may not contain '.'. Given: {name}"),
                ));
            }
            format!("{prefix}.{name}")
        };
        if path
            .split('.')
            .any(|part| part.is_empty() || part.starts_with('$'))
        {
            return Err(QueryError::location(
                16410,
                "Location16410",
                format!("Invalid {stage} :: caused by :: FieldPath field names may not be empty or start with '$': {path}"),
            ));
        }
        match value {
            Bson::Document(sub)
                if !sub.is_empty() && !sub.keys().next().is_some_and(|k| k.starts_with('$')) =>
            {
                add_spec(fields, &path, sub, stage)?;
            }
            _ => insert(fields, &path, Field::Value(Expr::parse(value)?), stage)?,
        }
    }
    Ok(())
}

fn insert(
    fields: &mut Vec<(String, Field)>,
    path: &str,
    field: Field,
    stage: &str,
) -> Result<(), QueryError> {
    let collision = || {
        QueryError::location(
            40176,
            "Location40176",
            format!("Invalid {stage} :: caused by :: Path collision at {path}"),
        )
    };
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let existing = fields.iter_mut().find(|(name, _)| name == head);
    match (existing, rest) {
        (None, None) => fields.push((head.to_owned(), field)),
        (None, Some(rest)) => {
            let mut children = Vec::new();
            insert(&mut children, rest, field, stage)?;
            fields.push((head.to_owned(), Field::Sub(children)));
        }
        (Some((_, Field::Sub(children))), Some(rest)) => insert(children, rest, field, stage)?,
        (Some(_), _) => return Err(collision()),
    }
    Ok(())
}

fn apply_fields(target: &mut Document, fields: &[(String, Field)], root: &Document) {
    for (name, field) in fields {
        match field {
            Field::Value(expr) => match expr.eval(root) {
                Some(value) => {
                    target.insert(name.clone(), value);
                }
                // A missing result ("$nope", "$$REMOVE") leaves the field absent.
                None => {
                    target.remove(name);
                }
            },
            Field::Sub(children) => match target.get_mut(name) {
                Some(Bson::Document(inner)) => apply_fields(inner, children, root),
                Some(Bson::Array(items)) => apply_array(items, children, root),
                _ => {
                    let mut inner = Document::new();
                    apply_fields(&mut inner, children, root);
                    target.insert(name.clone(), inner);
                }
            },
        }
    }
}

/// Documents in the array get the fields; other elements are replaced by a document of them.
fn apply_array(items: &mut [Bson], fields: &[(String, Field)], root: &Document) {
    for item in items {
        match item {
            Bson::Document(inner) => apply_fields(inner, fields, root),
            Bson::Array(nested) => apply_array(nested, fields, root),
            other => {
                let mut inner = Document::new();
                apply_fields(&mut inner, fields, root);
                *other = Bson::Document(inner);
            }
        }
    }
}
