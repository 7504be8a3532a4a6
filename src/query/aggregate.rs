//! Aggregation pipelines over an in-memory list of documents.
//!
//! Stages: `$match $project $addFields/$set $unset $sort $skip $limit $count $group $unwind
//! $replaceRoot/$replaceWith`. Other real stages (`$lookup`, `$facet`, `$out`, …) are refused
//! with an "unsupported" error, unknown names with MongoDB's 40324. `$collStats` is answered by
//! the caller before the pipeline gets here.

use bson::{Bson, Document};

use super::bson_type::type_name;
use super::error::QueryError;
use super::expr::Expr;
use super::filter::Filter;
use super::number::Number;
use super::projection::Projection;
use super::sort::SortSpec;

mod add_fields;
mod group;
mod unwind;

use add_fields::AddFields;
use group::Group;
use unwind::Unwind;

/// Stages MongoDB has but redhive does not run.
const UNSUPPORTED_STAGES: &[&str] = &[
    "$bucket",
    "$bucketAuto",
    "$changeStream",
    "$collStats",
    "$currentOp",
    "$densify",
    "$documents",
    "$facet",
    "$fill",
    "$geoNear",
    "$graphLookup",
    "$indexStats",
    "$listLocalSessions",
    "$listSampledQueries",
    "$listSearchIndexes",
    "$listSessions",
    "$lookup",
    "$merge",
    "$out",
    "$planCacheStats",
    "$redact",
    "$sample",
    "$search",
    "$searchMeta",
    "$setWindowFields",
    "$shardedDataDistribution",
    "$sortByCount",
    "$unionWith",
    "$vectorSearch",
];

/// Runs `pipeline` over `docs`. The whole pipeline is validated before any stage runs.
pub fn run_pipeline(
    docs: Vec<Document>,
    pipeline: &[Document],
) -> Result<Vec<Document>, QueryError> {
    let stages = pipeline
        .iter()
        .map(Stage::parse)
        .collect::<Result<Vec<_>, _>>()?;
    stages.iter().try_fold(docs, |docs, stage| stage.run(docs))
}

#[derive(Debug)]
enum Stage {
    Match(Filter),
    Project(Projection),
    AddFields(AddFields),
    Sort(SortSpec),
    Skip(usize),
    Limit(usize),
    Count(String),
    Group(Group),
    Unwind(Unwind),
    ReplaceRoot(Expr),
}

// === impl Stage ===

impl Stage {
    fn parse(spec: &Document) -> Result<Stage, QueryError> {
        let mut entries = spec.iter();
        let (Some((name, argument)), None) = (entries.next(), entries.next()) else {
            return Err(QueryError::location(
                40323,
                "Location40323",
                "A pipeline stage specification object must contain exactly one field.",
            ));
        };
        match name.as_str() {
            "$match" => match argument {
                Bson::Document(filter) => Ok(Stage::Match(Filter::parse(filter)?)),
                _ => Err(QueryError::location(
                    15959,
                    "Location15959",
                    "the match filter must be an expression in an object",
                )),
            },
            "$project" => match argument {
                Bson::Document(projection) => {
                    Ok(Stage::Project(Projection::parse_stage(projection)?))
                }
                _ => Err(QueryError::location(
                    15969,
                    "Location15969",
                    "$project specification must be an object",
                )),
            },
            "$addFields" | "$set" => match argument {
                Bson::Document(fields) => Ok(Stage::AddFields(AddFields::parse(name, fields)?)),
                other => Err(QueryError::location(
                    40272,
                    "Location40272",
                    format!(
                        "{name} specification stage must be an object, got {}",
                        type_name(other)
                    ),
                )),
            },
            "$unset" => parse_unset(argument).map(Stage::Project),
            "$sort" => match argument {
                Bson::Document(keys) if keys.is_empty() => Err(QueryError::location(
                    15976,
                    "Location15976",
                    "$sort stage must have at least one sort key",
                )),
                Bson::Document(keys) => Ok(Stage::Sort(SortSpec::parse(keys)?)),
                _ => Err(QueryError::location(
                    15973,
                    "Location15973",
                    "the $sort key specification must be an object",
                )),
            },
            "$skip" => parse_count_argument(argument, "$skip", true).map(Stage::Skip),
            "$limit" => parse_count_argument(argument, "$limit", false).map(Stage::Limit),
            "$count" => parse_count_field(argument).map(Stage::Count),
            "$group" => match argument {
                Bson::Document(group) => Ok(Stage::Group(Group::parse(group)?)),
                _ => Err(QueryError::location(
                    15947,
                    "Location15947",
                    "a group's fields must be specified in an object",
                )),
            },
            "$unwind" => Ok(Stage::Unwind(Unwind::parse(argument)?)),
            "$replaceRoot" => parse_replace_root(argument).map(Stage::ReplaceRoot),
            "$replaceWith" => Ok(Stage::ReplaceRoot(Expr::parse(argument)?)),
            _ if UNSUPPORTED_STAGES.contains(&name.as_str()) => Err(QueryError::unsupported(
                format!("the {name} aggregation stage"),
            )),
            _ => Err(QueryError::location(
                40324,
                "Location40324",
                format!("Unrecognized pipeline stage name: '{name}'"),
            )),
        }
    }

    fn run(&self, mut docs: Vec<Document>) -> Result<Vec<Document>, QueryError> {
        match self {
            Stage::Match(filter) => docs.retain(|doc| filter.matches(doc)),
            Stage::Project(projection) => {
                docs = docs.iter().map(|doc| projection.apply(doc)).collect();
            }
            Stage::AddFields(fields) => {
                docs = docs.iter().map(|doc| fields.apply(doc)).collect();
            }
            Stage::Sort(spec) => spec.sort(&mut docs),
            Stage::Skip(count) => {
                docs.drain(..(*count).min(docs.len()));
            }
            Stage::Limit(count) => docs.truncate(*count),
            Stage::Count(field) => {
                // Like {$group: {_id: null, field: {$sum: 1}}}: no input, no output document.
                if docs.is_empty() {
                    return Ok(Vec::new());
                }
                let count = i32::try_from(docs.len())
                    .map(Bson::Int32)
                    .unwrap_or_else(|_| Bson::Int64(i64::try_from(docs.len()).unwrap_or(i64::MAX)));
                let mut out = Document::new();
                out.insert(field.clone(), count);
                docs = vec![out];
            }
            Stage::Group(group) => docs = group.run(&docs)?,
            Stage::Unwind(unwind) => docs = docs.iter().flat_map(|doc| unwind.apply(doc)).collect(),
            Stage::ReplaceRoot(expr) => {
                docs = docs
                    .iter()
                    .map(|doc| match expr.eval(doc) {
                        Some(Bson::Document(root)) => Ok(root),
                        other => Err(QueryError::location(
                            40228,
                            "Location40228",
                            format!(
                                "'newRoot' expression must evaluate to an object, but resulting \
                                 value was: {}. Type of resulting value: '{}'. Input document: {doc}",
                                other.as_ref().map_or("MISSING".to_owned(), Bson::to_string),
                                other.as_ref().map_or("missing", type_name)
                            ),
                        )),
                    })
                    .collect::<Result<_, _>>()?;
            }
        }
        Ok(docs)
    }
}

fn parse_unset(argument: &Bson) -> Result<Projection, QueryError> {
    let paths: Vec<&str> = match argument {
        Bson::String(path) => vec![path.as_str()],
        Bson::Array(items) if items.is_empty() => {
            return Err(QueryError::location(
                31119,
                "Location31119",
                "$unset specification must be a string or an array with at least one field",
            ))
        }
        Bson::Array(items) => items
            .iter()
            .map(|item| match item {
                Bson::String(path) => Ok(path.as_str()),
                _ => Err(QueryError::location(
                    31120,
                    "Location31120",
                    "$unset specification must be a string or an array containing only string values",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(QueryError::location(
                31002,
                "Location31002",
                "$unset specification must be a string or an array",
            ))
        }
    };
    Projection::exclusion(&paths)
}

/// `$skip` (zero allowed) and `$limit` (must be positive): integral numbers.
fn parse_count_argument(
    argument: &Bson,
    stage: &str,
    zero_allowed: bool,
) -> Result<usize, QueryError> {
    let Some(number) = Number::of(argument) else {
        return Err(QueryError::location(
            15957,
            "Location15957",
            format!("the {stage} must be specified as a number"),
        ));
    };
    let value = number.exact_i64().ok_or_else(|| {
        QueryError::location(
            15957,
            "Location15957",
            format!("the {stage} must be specified as an integer, got {argument}"),
        )
    })?;
    if value < 0 || (value == 0 && !zero_allowed) {
        return Err(if zero_allowed {
            QueryError::location(
                15956,
                "Location15956",
                format!("invalid argument to $skip stage: Expected a non-negative number in: $skip: {value}"),
            )
        } else {
            QueryError::location(15958, "Location15958", "the limit must be positive")
        });
    }
    Ok(usize::try_from(value).unwrap_or(usize::MAX))
}

fn parse_count_field(argument: &Bson) -> Result<String, QueryError> {
    let field = match argument {
        Bson::String(field) if !field.is_empty() => field,
        _ => {
            return Err(QueryError::location(
                40156,
                "Location40156",
                "the count field must be a non-empty string",
            ))
        }
    };
    if field.starts_with('$') {
        return Err(QueryError::location(
            40158,
            "Location40158",
            "the count field cannot be a $-prefixed path",
        ));
    }
    if field.contains('.') {
        return Err(QueryError::location(
            40160,
            "Location40160",
            "the count field cannot contain '.'",
        ));
    }
    Ok(field.clone())
}

fn parse_replace_root(argument: &Bson) -> Result<Expr, QueryError> {
    let Bson::Document(spec) = argument else {
        return Err(QueryError::location(
            40229,
            "Location40229",
            "expected an object as specification for $replaceRoot stage",
        ));
    };
    if let Some(unknown) = spec.keys().find(|key| *key != "newRoot") {
        return Err(QueryError::location(
            40415,
            "Location40415",
            format!("BSON field '$replaceRoot.{unknown}' is an unknown field."),
        ));
    }
    match spec.get("newRoot") {
        Some(root) => Expr::parse(root),
        None => Err(QueryError::location(
            40231,
            "Location40231",
            "no newRoot specified for the $replaceRoot stage",
        )),
    }
}

#[cfg(test)]
mod tests;
