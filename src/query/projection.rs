//! Projections: find's `projection` and the `$project`/`$unset` stages.
//!
//! An inclusion projection (`{username: 1, "a.b": 1}`) keeps the listed paths plus `_id`; an
//! exclusion projection (`{hash: 0, salt: 0}`) drops them. Mixing the two is an error except for
//! `_id`. Computed fields (`{x: "$a.b"}`, `{x: {$literal: 5}}`, `{x: "text"}`) make an inclusion
//! projection. In find, `{a: {$slice: …}}` and `{a: {$elemMatch: …}}` are supported; `$meta`,
//! positional `a.$` and expression operators are refused.

use bson::{Bson, Document};

use super::bson_type::truthy;
use super::error::QueryError;
use super::expr::Expr;
use super::filter::ElemMatch;
use super::number::Number;

mod apply;

/// A parsed projection.
#[derive(Debug, Clone)]
pub struct Projection {
    mode: Mode,
    root: Node,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Inclusion,
    Exclusion,
}

/// Which dialect is being parsed: find accepts the `$slice`/`$elemMatch` projection operators,
/// aggregation's `$project` reads those as expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Find,
    Aggregate,
}

/// One level of the projection, fields in specification order.
#[derive(Debug, Clone, Default)]
struct Node {
    fields: Vec<(String, Spec)>,
}

#[derive(Debug, Clone)]
enum Spec {
    Include,
    Exclude,
    Sub(Node),
    Computed(Expr),
    Slice(Slice),
    ElemMatch(ElemMatch),
}

/// `$slice: n` or `$slice: [skip, limit]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slice {
    Count(i64),
    Range { skip: i64, limit: i64 },
}

/// Accumulates a specification while checking that inclusions and exclusions are not mixed.
struct Builder {
    context: Context,
    mode: Option<Mode>,
    id: Option<bool>,
    root: Node,
}

// === impl Projection ===

impl Projection {
    /// Parses find's projection. `{}` returns every field unchanged.
    pub fn parse(spec: &Document) -> Result<Projection, QueryError> {
        Self::parse_in(spec, Context::Find)
    }

    /// Parses the `$project` stage, which must name at least one field.
    pub(crate) fn parse_stage(spec: &Document) -> Result<Projection, QueryError> {
        if spec.is_empty() {
            return Err(QueryError::location(
                51272,
                "Location51272",
                "Invalid $project :: caused by :: projection specification must have at least one field",
            ));
        }
        Self::parse_in(spec, Context::Aggregate)
    }

    /// The `$unset` stage: an exclusion of the given paths.
    pub(crate) fn exclusion(paths: &[&str]) -> Result<Projection, QueryError> {
        let spec: Document = paths
            .iter()
            .map(|path| ((*path).to_owned(), Bson::Int32(0)))
            .collect();
        Self::parse_in(&spec, Context::Aggregate)
    }

    fn parse_in(spec: &Document, context: Context) -> Result<Projection, QueryError> {
        let mut builder = Builder {
            context,
            mode: None,
            id: None,
            root: Node::default(),
        };
        for (path, value) in spec {
            builder.add(path, value)?;
        }
        builder.finish()
    }

    /// Applies the projection. Fields keep the order of the source document; computed fields
    /// and `$elemMatch` results follow the kept fields, as in MongoDB.
    pub fn apply(&self, doc: &Document) -> Document {
        match self.mode {
            Mode::Inclusion => apply::include(&self.root, doc, doc),
            Mode::Exclusion => apply::exclude(&self.root, doc),
        }
    }
}

// === impl Builder ===

impl Builder {
    fn add(&mut self, path: &str, value: &Bson) -> Result<(), QueryError> {
        check_path(path, self.context)?;
        let spec = match value {
            Bson::Boolean(_)
            | Bson::Int32(_)
            | Bson::Int64(_)
            | Bson::Double(_)
            | Bson::Decimal128(_) => {
                if truthy(value) {
                    Spec::Include
                } else {
                    Spec::Exclude
                }
            }
            Bson::Document(sub) if sub.is_empty() => {
                return Err(QueryError::location(
                    51270,
                    "Location51270",
                    format!("An empty sub-projection is not a valid value. Found empty object at path {path}"),
                ));
            }
            Bson::Document(sub) => match sub.keys().next().map(String::as_str) {
                Some(operator) if operator.starts_with('$') => {
                    self.operator(path, operator, sub)?
                }
                // {a: {b: 1}} is {"a.b": 1}.
                _ => {
                    for (name, inner) in sub {
                        self.add(&format!("{path}.{name}"), inner)?;
                    }
                    return Ok(());
                }
            },
            other => Spec::Computed(Expr::parse(other)?),
        };
        if path == "_id" && matches!(spec, Spec::Include | Spec::Exclude) {
            // _id is governed by its own rule and never decides the projection's kind.
            self.id = Some(matches!(spec, Spec::Include));
            return Ok(());
        }
        self.note_kind(path, &spec)?;
        insert(&mut self.root, path, spec)
    }

    fn operator(&self, path: &str, operator: &str, sub: &Document) -> Result<Spec, QueryError> {
        let argument = sub.get(operator).unwrap_or(&Bson::Null);
        match (operator, self.context) {
            ("$slice", Context::Find) if sub.len() == 1 => Ok(Spec::Slice(parse_slice(argument)?)),
            ("$elemMatch", Context::Find) if sub.len() == 1 => {
                if path.contains('.') {
                    return Err(QueryError::bad_value(
                        "Cannot use $elemMatch projection on a nested field.",
                    ));
                }
                Ok(Spec::ElemMatch(ElemMatch::parse(argument)?))
            }
            ("$meta", _) => Err(QueryError::unsupported("the $meta projection")),
            _ => Ok(Spec::Computed(Expr::parse(&Bson::Document(sub.clone()))?)),
        }
    }

    fn note_kind(&mut self, path: &str, spec: &Spec) -> Result<(), QueryError> {
        let kind = match spec {
            Spec::Include | Spec::Computed(_) | Spec::ElemMatch(_) => Mode::Inclusion,
            Spec::Exclude => Mode::Exclusion,
            Spec::Slice(_) | Spec::Sub(_) => return Ok(()),
        };
        match (self.mode, kind) {
            (None, _) => self.mode = Some(kind),
            (Some(Mode::Inclusion), Mode::Exclusion) => {
                return Err(QueryError::location(
                    31254,
                    "Location31254",
                    format!("Cannot do exclusion on field {path} in inclusion projection"),
                ));
            }
            (Some(Mode::Exclusion), Mode::Inclusion) => {
                return Err(if let Spec::Computed(_) = spec {
                    QueryError::location(
                        31252,
                        "Location31252",
                        format!("Cannot use expression other than $meta in exclusion projection (field {path})"),
                    )
                } else {
                    QueryError::location(
                        31253,
                        "Location31253",
                        format!("Cannot do inclusion on field {path} in exclusion projection"),
                    )
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Projection, QueryError> {
        let mode = self.mode.unwrap_or(if self.id == Some(true) {
            Mode::Inclusion
        } else {
            Mode::Exclusion
        });
        let implied = match (mode, self.id) {
            (Mode::Inclusion, None | Some(true)) => Some(Spec::Include),
            (Mode::Exclusion, Some(false)) => Some(Spec::Exclude),
            _ => None,
        };
        if let Some(spec) = implied {
            if self.root.get("_id").is_none() {
                self.root.fields.insert(0, ("_id".to_owned(), spec));
            } else if self.id.is_some() {
                // {_id: 1, "_id.a": 1} and the like.
                return Err(QueryError::location(
                    31250,
                    "Location31250",
                    "Path collision at _id",
                ));
            }
        }
        Ok(Projection {
            mode,
            root: self.root,
        })
    }
}

// === impl Node ===

impl Node {
    fn get(&self, name: &str) -> Option<&Spec> {
        self.fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, spec)| spec)
    }

    fn has_computed(&self) -> bool {
        self.fields.iter().any(|(_, spec)| match spec {
            Spec::Computed(_) => true,
            Spec::Sub(child) => child.has_computed(),
            _ => false,
        })
    }
}

// === impl Slice ===

impl Slice {
    fn apply(self, items: &[Bson]) -> Vec<Bson> {
        let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
        let (start, end) = match self {
            Slice::Count(count) if count >= 0 => (0, count.min(len)),
            Slice::Count(count) => (len.saturating_add(count).max(0), len),
            Slice::Range { skip, limit } => {
                let start = if skip >= 0 {
                    skip.min(len)
                } else {
                    len.saturating_add(skip).max(0)
                };
                (start, start.saturating_add(limit).min(len))
            }
        };
        let start = usize::try_from(start).unwrap_or(0);
        let end = usize::try_from(end).unwrap_or(0);
        items.get(start..end).unwrap_or_default().to_vec()
    }
}

fn parse_slice(argument: &Bson) -> Result<Slice, QueryError> {
    let integer = |value: &Bson| Number::of(value).and_then(|n| n.exact_i64());
    match argument {
        Bson::Array(pair) => match pair.as_slice() {
            [skip, limit] => {
                let (Some(skip), Some(limit)) = (integer(skip), integer(limit)) else {
                    return Err(QueryError::bad_value(
                        "$slice only supports numbers and [skip, limit] arrays",
                    ));
                };
                if limit <= 0 {
                    return Err(QueryError::bad_value("$slice limit must be positive"));
                }
                Ok(Slice::Range { skip, limit })
            }
            _ => Err(QueryError::bad_value(
                "$slice array argument must be of the form [skip, limit]",
            )),
        },
        other => integer(other).map(Slice::Count).ok_or_else(|| {
            QueryError::bad_value("$slice only supports numbers and [skip, limit] arrays")
        }),
    }
}

fn check_path(path: &str, context: Context) -> Result<(), QueryError> {
    if path.is_empty() || path.split('.').any(str::is_empty) {
        return Err(QueryError::location(
            15998,
            "Location15998",
            format!("FieldPath field names may not be empty strings (in '{path}')"),
        ));
    }
    if path.split('.').any(|part| part == "$") {
        return Err(if context == Context::Find {
            QueryError::unsupported("the positional projection operator ($)")
        } else {
            QueryError::bad_value(format!("Invalid $project field path: {path}"))
        });
    }
    if path.split('.').any(|part| part.starts_with('$')) {
        return Err(QueryError::location(
            16410,
            "Location16410",
            format!("FieldPath field names may not start with '$'. Given FieldPath: {path}"),
        ));
    }
    Ok(())
}

/// Adds `spec` at the dotted `path`, creating sub-nodes; a path that runs into or through an
/// already projected field is a collision, as in MongoDB.
fn insert(node: &mut Node, path: &str, spec: Spec) -> Result<(), QueryError> {
    let collision =
        || QueryError::location(31250, "Location31250", format!("Path collision at {path}"));
    let mut current = node;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let position = current.fields.iter().position(|(name, _)| name == part);
        if parts.peek().is_none() {
            if position.is_some() {
                return Err(collision());
            }
            current.fields.push((part.to_owned(), spec));
            return Ok(());
        }
        let index = match position {
            Some(index) => index,
            None => {
                current
                    .fields
                    .push((part.to_owned(), Spec::Sub(Node::default())));
                current.fields.len() - 1
            }
        };
        current = match current.fields.get_mut(index) {
            Some((_, Spec::Sub(child))) => child,
            _ => return Err(collision()),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests;
