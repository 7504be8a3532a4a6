//! The small subset of aggregation expressions redhive evaluates: field paths (`"$a.b"`),
//! `$$ROOT`/`$$CURRENT`/`$$REMOVE`, `{$literal: v}`, literal values, and arrays and objects built
//! from those. Any expression operator (`{$add: …}`, `{$concat: …}`, …) is refused at parse time.

use bson::{Bson, Document};

use super::error::QueryError;

#[derive(Debug, Clone)]
pub(crate) enum Expr {
    /// A path from the root document; empty means the root itself.
    Path(Vec<String>),
    /// `$$REMOVE`: evaluates to "missing".
    Remove,
    Literal(Bson),
    Array(Vec<Expr>),
    Object(Vec<(String, Expr)>),
}

// === impl Expr ===

impl Expr {
    pub(crate) fn parse(value: &Bson) -> Result<Expr, QueryError> {
        match value {
            Bson::String(text) if text.starts_with('$') => parse_path(text),
            Bson::Array(items) => items
                .iter()
                .map(Expr::parse)
                .collect::<Result<_, _>>()
                .map(Expr::Array),
            Bson::Document(doc) => Self::parse_object(doc),
            other => Ok(Expr::Literal(other.clone())),
        }
    }

    fn parse_object(doc: &Document) -> Result<Expr, QueryError> {
        let Some(first) = doc.keys().next() else {
            return Ok(Expr::Literal(Bson::Document(Document::new())));
        };
        if first.starts_with('$') {
            if first == "$literal" && doc.len() == 1 {
                return Ok(Expr::Literal(doc.get(first).cloned().unwrap_or(Bson::Null)));
            }
            if doc.len() > 1 {
                return Err(QueryError::location(
                    15983,
                    "Location15983",
                    format!(
                        "an expression specification must contain exactly one field, the name \
                         of the expression. Found {} fields in {doc}",
                        doc.len()
                    ),
                ));
            }
            return Err(QueryError::unsupported(format!(
                "the aggregation expression operator {first}"
            )));
        }
        let mut fields = Vec::with_capacity(doc.len());
        for (name, value) in doc {
            check_field_name(name)?;
            fields.push((name.clone(), Expr::parse(value)?));
        }
        Ok(Expr::Object(fields))
    }

    /// Evaluates against `root`; `None` means the value is missing (so the field is not set).
    pub(crate) fn eval(&self, root: &Document) -> Option<Bson> {
        match self {
            Expr::Path(parts) => match parts.split_first() {
                None => Some(Bson::Document(root.clone())),
                Some((first, rest)) => root.get(first).and_then(|value| eval_path(value, rest)),
            },
            Expr::Remove => None,
            Expr::Literal(value) => Some(value.clone()),
            // Missing values inside an array become null.
            Expr::Array(items) => Some(Bson::Array(
                items
                    .iter()
                    .map(|item| item.eval(root).unwrap_or(Bson::Null))
                    .collect(),
            )),
            // Missing values inside an object leave the field out.
            Expr::Object(fields) => Some(Bson::Document(
                fields
                    .iter()
                    .filter_map(|(name, expr)| expr.eval(root).map(|value| (name.clone(), value)))
                    .collect(),
            )),
        }
    }
}

fn parse_path(text: &str) -> Result<Expr, QueryError> {
    let (parts, from_root) = if let Some(variable) = text.strip_prefix("$$") {
        let (name, rest) = match variable.split_once('.') {
            Some((name, rest)) => (name, Some(rest)),
            None => (variable, None),
        };
        match name {
            "ROOT" | "CURRENT" => (rest, true),
            "REMOVE" if rest.is_none() => return Ok(Expr::Remove),
            _ => {
                return Err(QueryError::unsupported(format!(
                    "the aggregation variable $${name}"
                )))
            }
        }
    } else {
        (text.strip_prefix('$'), false)
    };
    let Some(parts) = parts else {
        // "$$ROOT" alone.
        return Ok(Expr::Path(Vec::new()));
    };
    if parts.is_empty() && !from_root {
        return Err(QueryError::location(
            16872,
            "Location16872",
            "'$' by itself is not a valid FieldPath",
        ));
    }
    let parts: Vec<String> = parts.split('.').map(str::to_owned).collect();
    for part in &parts {
        if part.is_empty() {
            return Err(QueryError::location(
                15998,
                "Location15998",
                "FieldPath field names may not be empty strings.",
            ));
        }
        if part.starts_with('$') {
            return Err(QueryError::location(
                16410,
                "Location16410",
                format!("FieldPath field names may not start with '$'. Given FieldPath: {text}"),
            ));
        }
    }
    Ok(Expr::Path(parts))
}

fn check_field_name(name: &str) -> Result<(), QueryError> {
    if name.starts_with('$') {
        return Err(QueryError::location(
            16410,
            "Location16410",
            format!("FieldPath field names may not start with '$'. Given: {name}"),
        ));
    }
    if name.contains('.') {
        return Err(QueryError::location(
            16412,
            "Location16412",
            format!("FieldPath field names may not contain '.'. Consider using $getField or $setField. Given: {name}"),
        ));
    }
    Ok(())
}

/// Aggregation path semantics (not the matcher's): through an array the path maps over the
/// elements, keeping nested arrays' shape and dropping elements where it is missing, and numeric
/// steps are field names, never indexes. `{a: [{b: 1}, {c: 2}, 3]}` gives `"$a.b"` = `[1]`.
fn eval_path(value: &Bson, rest: &[String]) -> Option<Bson> {
    let Some((first, tail)) = rest.split_first() else {
        return Some(value.clone());
    };
    match value {
        Bson::Document(doc) => doc.get(first).and_then(|inner| eval_path(inner, tail)),
        Bson::Array(items) => Some(Bson::Array(
            items
                .iter()
                .filter_map(|item| match item {
                    Bson::Document(_) | Bson::Array(_) => eval_path(item, rest),
                    _ => None,
                })
                .collect(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use bson::{bson, doc};

    use super::*;

    fn eval(spec: Bson, root: Document) -> Option<Bson> {
        Expr::parse(&spec).expect("parses").eval(&root)
    }

    #[test]
    fn field_paths() {
        let root = doc! {"a": {"b": 1}, "arr": [{"b": 1}, {"c": 2}, 3, [{"b": 4}]]};
        assert_eq!(eval(bson!("$a.b"), root.clone()), Some(bson!(1)));
        assert_eq!(eval(bson!("$a.x"), root.clone()), None);
        assert_eq!(eval(bson!("$arr.b"), root.clone()), Some(bson!([1, [4]])));
        assert_eq!(eval(bson!("$arr.0"), root.clone()), Some(bson!([[]])));
        assert_eq!(eval(bson!("$$ROOT.a"), root.clone()), Some(bson!({"b": 1})));
        assert_eq!(
            eval(bson!("$$CURRENT"), root.clone()),
            Some(Bson::Document(root.clone()))
        );
        assert_eq!(eval(bson!("$$REMOVE"), root), None);
    }

    #[test]
    fn literals_arrays_objects() {
        let root = doc! {"a": 1};
        assert_eq!(eval(bson!("text"), root.clone()), Some(bson!("text")));
        assert_eq!(
            eval(bson!({"$literal": "$a"}), root.clone()),
            Some(bson!("$a"))
        );
        assert_eq!(
            eval(bson!(["$a", "$zz"]), root.clone()),
            Some(bson!([1, null]))
        );
        assert_eq!(
            eval(bson!({"x": "$a", "y": "$zz"}), root.clone()),
            Some(bson!({"x": 1}))
        );
        assert_eq!(eval(bson!({}), root), Some(bson!({})));
    }

    #[test]
    fn refused() {
        assert!(Expr::parse(&bson!({"$add": [1, 2]}))
            .expect_err("operator")
            .message
            .contains("not supported by redhive"));
        assert!(Expr::parse(&bson!("$$NOW")).is_err());
        assert_eq!(
            Expr::parse(&bson!("$")).map_err(|e| e.code).err(),
            Some(16872)
        );
        assert_eq!(
            Expr::parse(&bson!("$a..b")).map_err(|e| e.code).err(),
            Some(15998)
        );
        assert_eq!(
            Expr::parse(&bson!({"a.b": 1})).map_err(|e| e.code).err(),
            Some(16412)
        );
        assert_eq!(
            Expr::parse(&bson!({"a": 1, "$b": 2}))
                .map_err(|e| e.code)
                .err(),
            Some(16410)
        );
        assert_eq!(
            Expr::parse(&bson!({"$literal": 1, "x": 2}))
                .map_err(|e| e.code)
                .err(),
            Some(15983)
        );
    }
}
