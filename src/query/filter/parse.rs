//! Filter document → `Node` tree, validating everything up front (unknown operators, malformed
//! arguments, regular expressions) so that evaluation cannot fail.

use bson::{Bson, Document};

use super::tree::{CmpOp, InList, Node, Pred};
use crate::query::bson_type::{truthy, TypeSet};
use crate::query::error::QueryError;
use crate::query::number::Number;
use crate::query::pattern::Pattern;

/// Operators that stand for a whole predicate at the top level of a filter (MongoDB's
/// "pathless" operators). A `$elemMatch` whose argument starts with one of these is the query
/// form, not the value form.
const PATHLESS: &[&str] = &[
    "$and",
    "$or",
    "$nor",
    "$comment",
    "$alwaysTrue",
    "$alwaysFalse",
    "$expr",
    "$where",
    "$text",
    "$jsonSchema",
    "$sampleRate",
    "$ref",
    "$id",
    "$db",
];

/// Operators that take a field path (`{field: {$op: …}}`).
const PATH_OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$type",
    "$mod",
    "$regex",
    "$options",
    "$size",
    "$all",
    "$elemMatch",
    "$not",
    "$near",
    "$nearSphere",
    "$geoNear",
    "$geoWithin",
    "$within",
    "$geoIntersects",
    "$bitsAllSet",
    "$bitsAllClear",
    "$bitsAnySet",
    "$bitsAnyClear",
];

/// True for operators that take a field path, such as `$gt` or `$elemMatch`.
pub(crate) fn is_path_operator(name: &str) -> bool {
    PATH_OPERATORS.contains(&name)
}

/// Valid MongoDB operators whose semantics redhive does not implement.
const UNSUPPORTED: &[&str] = &[
    "$near",
    "$nearSphere",
    "$geoNear",
    "$geoWithin",
    "$within",
    "$geoIntersects",
    "$bitsAllSet",
    "$bitsAllClear",
    "$bitsAnySet",
    "$bitsAnyClear",
];

/// Parses a query document (the implicit AND of its fields).
pub(crate) fn parse_document(doc: &Document) -> Result<Node, QueryError> {
    let mut children = Vec::new();
    for (key, value) in doc {
        if key.starts_with('$') {
            if let Some(node) = parse_pathless(key, value)? {
                children.push(node);
            }
        } else {
            parse_field(key, value, &mut children)?;
        }
    }
    Ok(if children.len() == 1 {
        children.remove(0)
    } else {
        Node::And(children)
    })
}

fn parse_pathless(key: &str, value: &Bson) -> Result<Option<Node>, QueryError> {
    match key {
        "$and" | "$or" | "$nor" => {
            let Bson::Array(items) = value else {
                return Err(QueryError::bad_value(format!("{key} must be an array")));
            };
            if items.is_empty() {
                return Err(QueryError::bad_value(
                    "$and/$or/$nor must be a nonempty array",
                ));
            }
            let children = items
                .iter()
                .map(|item| match item {
                    Bson::Document(sub) => parse_document(sub),
                    _ => Err(QueryError::bad_value(
                        "$or/$and/$nor entries need to be full objects",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(match key {
                "$and" => Node::And(children),
                "$or" => Node::Or(children),
                _ => Node::Nor(children),
            }))
        }
        "$comment" => Ok(None),
        "$alwaysTrue" | "$alwaysFalse" => {
            if Number::of(value).and_then(|n| n.exact_i64()) != Some(1) {
                return Err(QueryError::failed_to_parse(format!(
                    "{key} must be an integer value of 1"
                )));
            }
            Ok(Some(Node::Const(key == "$alwaysTrue")))
        }
        // Parts of a DBRef queried on their own are plain equalities on those field names.
        "$ref" | "$id" | "$db" => Ok(Some(Node::Path(key.to_owned(), equality(value)?))),
        "$where" | "$expr" | "$text" | "$jsonSchema" | "$sampleRate" => {
            Err(QueryError::unsupported(format!("the {key} query operator")))
        }
        _ => Err(QueryError::bad_value(format!(
            "unknown top level operator: {key}"
        ))),
    }
}

fn parse_field(path: &str, value: &Bson, out: &mut Vec<Node>) -> Result<(), QueryError> {
    match value {
        Bson::Document(ops) if is_operator_document(ops, false) => {
            for pred in parse_operators(path, ops)? {
                out.push(Node::Path(path.to_owned(), pred));
            }
        }
        // A regular expression as the value means "matches", not "equals".
        Bson::RegularExpression(regex) => {
            out.push(Node::Path(
                path.to_owned(),
                Pred::Regex(Pattern::from_bson(regex)?),
            ));
        }
        _ => out.push(Node::Path(path.to_owned(), equality(value)?)),
    }
    Ok(())
}

/// `{$gt: 1, …}` as opposed to a literal sub-document: the first key starts with `$` and the
/// document is not a DBRef (`{$ref, $id}`; with `allow_incomplete_dbref` any of `$ref`, `$id`,
/// `$db` is enough).
fn is_operator_document(doc: &Document, allow_incomplete_dbref: bool) -> bool {
    let Some(first) = doc.keys().next() else {
        return false;
    };
    if !first.starts_with('$') {
        return false;
    }
    let has = |name: &str| doc.contains_key(name);
    let is_dbref = if allow_incomplete_dbref {
        has("$ref") || has("$id") || has("$db")
    } else {
        has("$ref") && has("$id")
    };
    !is_dbref
}

/// The operators of one `{field: {…}}` document; each becomes its own predicate on the path.
fn parse_operators(path: &str, ops: &Document) -> Result<Vec<Pred>, QueryError> {
    if let Some(first) = ops.keys().next() {
        if matches!(first.as_str(), "$near" | "$nearSphere" | "$geoNear") {
            return Err(QueryError::unsupported(format!(
                "the {first} query operator"
            )));
        }
    }
    let mut preds = Vec::new();
    for (name, arg) in ops {
        if let Some(pred) = parse_operator(path, ops, name, arg)? {
            preds.push(pred);
        }
    }
    Ok(preds)
}

fn parse_operator(
    path: &str,
    context: &Document,
    name: &str,
    arg: &Bson,
) -> Result<Option<Pred>, QueryError> {
    let pred = match name {
        "$eq" => equality(arg)?,
        "$ne" => {
            if matches!(arg, Bson::RegularExpression(_)) {
                return Err(QueryError::bad_value("Can't have regex as arg to $ne."));
            }
            Pred::Not(Box::new(equality(arg)?))
        }
        "$gt" | "$gte" | "$lt" | "$lte" => {
            if matches!(arg, Bson::RegularExpression(_)) {
                return Err(QueryError::bad_value(format!(
                    "Can't have RegEx as arg to predicate over field '{path}'."
                )));
            }
            let op = match name {
                "$gt" => CmpOp::Gt,
                "$gte" => CmpOp::Gte,
                "$lt" => CmpOp::Lt,
                _ => CmpOp::Lte,
            };
            Pred::Cmp(op, comparable(arg)?)
        }
        "$in" | "$nin" => {
            let Bson::Array(items) = arg else {
                return Err(QueryError::bad_value(format!("{name} needs an array")));
            };
            let list = Pred::In(parse_in(items)?);
            if name == "$in" {
                list
            } else {
                Pred::Not(Box::new(list))
            }
        }
        "$exists" => {
            if truthy(arg) {
                Pred::Exists
            } else {
                Pred::Not(Box::new(Pred::Exists))
            }
        }
        "$type" => Pred::Type(TypeSet::parse(arg)?),
        "$mod" => parse_mod(arg)?,
        "$regex" => Pred::Regex(parse_regex_document(context)?),
        "$options" => {
            if context.contains_key("$regex") {
                return Ok(None);
            }
            return Err(QueryError::bad_value("$options needs a $regex"));
        }
        "$size" => Pred::Size(parse_size(arg)?),
        "$all" => parse_all(arg)?,
        "$elemMatch" => parse_elem_match(arg)?,
        "$not" => parse_not(path, arg)?,
        "$where" => return Err(QueryError::bad_value("$where cannot be applied to a field")),
        _ if UNSUPPORTED.contains(&name) => {
            return Err(QueryError::unsupported(format!(
                "the {name} query operator"
            )))
        }
        _ => return Err(QueryError::bad_value(format!("unknown operator: {name}"))),
    };
    Ok(Some(pred))
}

fn equality(value: &Bson) -> Result<Pred, QueryError> {
    Ok(Pred::Cmp(CmpOp::Eq, comparable(value)?))
}

fn comparable(value: &Bson) -> Result<Bson, QueryError> {
    if matches!(value, Bson::Undefined) {
        return Err(QueryError::bad_value("cannot compare to undefined"));
    }
    Ok(value.clone())
}

fn parse_in(items: &[Bson]) -> Result<InList, QueryError> {
    let mut list = InList {
        values: Vec::new(),
        regexes: Vec::new(),
        has_null: false,
    };
    for item in items {
        match item {
            Bson::Document(doc) if is_operator_document(doc, false) => {
                return Err(QueryError::bad_value("cannot nest $ under $in"));
            }
            Bson::RegularExpression(regex) => list.regexes.push(Pattern::from_bson(regex)?),
            Bson::Undefined => {
                return Err(QueryError::bad_value(
                    "InMatchExpression equality cannot be undefined",
                ));
            }
            _ => {
                list.has_null |= matches!(item, Bson::Null);
                list.values.push(item.clone());
            }
        }
    }
    Ok(list)
}

fn parse_mod(arg: &Bson) -> Result<Pred, QueryError> {
    let Bson::Array(items) = arg else {
        return Err(QueryError::bad_value("malformed mod, needs to be an array"));
    };
    let (divisor, remainder) = match items.as_slice() {
        [divisor, remainder] => (divisor, remainder),
        [] | [_] => return Err(QueryError::bad_value("malformed mod, not enough elements")),
        _ => return Err(QueryError::bad_value("malformed mod, too many elements")),
    };
    let as_i64 = |value: &Bson, what: &str| {
        let number = Number::of(value)
            .ok_or_else(|| QueryError::bad_value(format!("malformed mod, {what} not a number")))?;
        number.trunc_i64().ok_or_else(|| {
            QueryError::bad_value(format!("malformed mod, {what} value is invalid: {value}"))
        })
    };
    let divisor = as_i64(divisor, "divisor")?;
    let remainder = as_i64(remainder, "remainder")?;
    if divisor == 0 {
        return Err(QueryError::bad_value("divisor cannot be 0"));
    }
    Ok(Pred::Mod { divisor, remainder })
}

fn parse_size(arg: &Bson) -> Result<i64, QueryError> {
    let size = match arg {
        Bson::Int32(value) => i64::from(*value),
        Bson::Int64(value) => i32::try_from(*value).map(i64::from).map_err(|_| {
            QueryError::bad_value("$size must be representable as a 32-bit integer")
        })?,
        Bson::Double(value) => Number::Double(*value)
            .exact_i64()
            .filter(|size| i32::try_from(*size).is_ok())
            .ok_or_else(|| QueryError::bad_value("$size must be a whole number"))?,
        _ => return Err(QueryError::bad_value("$size needs a number")),
    };
    if size < 0 {
        return Err(QueryError::bad_value("$size may not be negative"));
    }
    Ok(size)
}

fn parse_regex_document(context: &Document) -> Result<Pattern, QueryError> {
    let mut source = "";
    let mut options = "";
    for (name, value) in context {
        match (name.as_str(), value) {
            ("$regex", Bson::String(pattern)) => source = pattern,
            ("$regex", Bson::RegularExpression(regex)) => {
                source = &regex.pattern;
                if !regex.options.is_empty() {
                    if !options.is_empty() {
                        return Err(QueryError::location(
                            51074,
                            "Location51074",
                            "options set in both $regex and $options",
                        ));
                    }
                    options = &regex.options;
                }
            }
            ("$regex", _) => return Err(QueryError::bad_value("$regex has to be a string")),
            ("$options", Bson::String(flags)) => {
                if !options.is_empty() {
                    return Err(QueryError::location(
                        51075,
                        "Location51075",
                        "options set in both $regex and $options",
                    ));
                }
                options = flags;
            }
            ("$options", _) => return Err(QueryError::bad_value("$options has to be a string")),
            _ => {}
        }
    }
    Pattern::new(source, options)
}

fn parse_all(arg: &Bson) -> Result<Pred, QueryError> {
    let Bson::Array(items) = arg else {
        return Err(QueryError::bad_value("$all needs an array"));
    };
    let first_is_elem_match = matches!(items.first(), Some(Bson::Document(doc))
        if doc.keys().next().map(String::as_str) == Some("$elemMatch"));
    let mut preds = Vec::new();
    for item in items {
        if first_is_elem_match {
            // $all: [{$elemMatch: …}, …] — every entry must be an $elemMatch.
            let spec = match item {
                Bson::Document(doc)
                    if doc.keys().next().map(String::as_str) == Some("$elemMatch") =>
                {
                    doc.get("$elemMatch")
                }
                _ => None,
            };
            let spec =
                spec.ok_or_else(|| QueryError::bad_value("$all/$elemMatch has to be consistent"))?;
            preds.push(parse_elem_match(spec)?);
            continue;
        }
        match item {
            Bson::RegularExpression(regex) => preds.push(Pred::Regex(Pattern::from_bson(regex)?)),
            Bson::Document(doc) if doc.keys().next().is_some_and(|key| is_path_operator(key)) => {
                return Err(QueryError::bad_value("no $ expressions in $all"));
            }
            _ => preds.push(equality(item)?),
        }
    }
    Ok(if preds.is_empty() {
        Pred::Never
    } else {
        Pred::And(preds)
    })
}

/// `$elemMatch` has two forms: `{$elemMatch: {$gt: 1, $lt: 5}}` tests each element as a value,
/// `{$elemMatch: {k: 1, $or: […]}}` tests each element (document or array) as a document.
pub(crate) fn parse_elem_match(arg: &Bson) -> Result<Pred, QueryError> {
    let Bson::Document(spec) = arg else {
        return Err(QueryError::bad_value("$elemMatch needs an Object"));
    };
    let value_form = is_operator_document(spec, true)
        && spec
            .keys()
            .next()
            .is_some_and(|first| !PATHLESS.contains(&first.as_str()));
    if value_form {
        Ok(Pred::ElemMatchValue(parse_operators("", spec)?))
    } else {
        Ok(Pred::ElemMatchObject(Box::new(parse_document(spec)?)))
    }
}

fn parse_not(path: &str, arg: &Bson) -> Result<Pred, QueryError> {
    match arg {
        Bson::RegularExpression(regex) => {
            Ok(Pred::Not(Box::new(Pred::Regex(Pattern::from_bson(regex)?))))
        }
        Bson::Document(ops) if ops.is_empty() => Err(QueryError::bad_value("$not cannot be empty")),
        Bson::Document(ops) => Ok(Pred::Not(Box::new(Pred::And(parse_operators(path, ops)?)))),
        _ => Err(QueryError::bad_value("$not needs a regex or a document")),
    }
}
