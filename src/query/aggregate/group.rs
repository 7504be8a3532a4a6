//! The `$group` stage and its accumulators.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use bson::{Bson, Document};

use crate::query::compare::{compare, equal};
use crate::query::error::QueryError;
use crate::query::expr::Expr;

/// Real MongoDB accumulators that redhive does not evaluate.
const UNSUPPORTED_ACCUMULATORS: &[&str] = &[
    "$accumulator",
    "$bottom",
    "$bottomN",
    "$firstN",
    "$lastN",
    "$maxN",
    "$median",
    "$mergeObjects",
    "$minN",
    "$percentile",
    "$stdDevPop",
    "$stdDevSamp",
    "$top",
    "$topN",
];

#[derive(Debug)]
pub(super) struct Group {
    id: Expr,
    fields: Vec<(String, Accumulator, Expr)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accumulator {
    Sum,
    Avg,
    Min,
    Max,
    First,
    Last,
    Push,
    AddToSet,
}

/// A group key ordered by MongoDB's comparison, so 1 and 1.0 fall into the same group.
struct Key(Bson);

/// Running state of one accumulator in one group.
enum State {
    Sum(Summer),
    Avg(Summer),
    Min(Option<Bson>),
    Max(Option<Bson>),
    First(Option<Bson>),
    Last(Bson),
    Push(Vec<Bson>),
    AddToSet(Vec<Bson>),
}

/// Sums like MongoDB: the result is an Int32 while every input is an Int32 and the total fits,
/// an Int64 while inputs are integers and the total fits, a Double otherwise.
#[derive(Default)]
struct Summer {
    integers: i128,
    doubles: f64,
    widest: Width,
    has_decimal: bool,
    count: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Width {
    #[default]
    Int32,
    Int64,
    Double,
}

// === impl Group ===

impl Group {
    pub(super) fn parse(spec: &Document) -> Result<Group, QueryError> {
        let Some(id) = spec.get("_id") else {
            return Err(QueryError::location(
                15955,
                "Location15955",
                "a group specification must include an _id",
            ));
        };
        let id = Expr::parse(id)?;
        let mut fields = Vec::new();
        for (name, value) in spec {
            if name == "_id" {
                continue;
            }
            if name.contains('.') {
                return Err(QueryError::location(
                    40235,
                    "Location40235",
                    format!("The field name '{name}' cannot contain '.'"),
                ));
            }
            if name.starts_with('$') {
                return Err(QueryError::location(
                    40236,
                    "Location40236",
                    format!("The field name '{name}' cannot be an operator name"),
                ));
            }
            let Bson::Document(accumulator) = value else {
                return Err(QueryError::location(
                    40234,
                    "Location40234",
                    format!("The field '{name}' must be an accumulator object"),
                ));
            };
            let mut entries = accumulator.iter();
            let (Some((operator, argument)), None) = (entries.next(), entries.next()) else {
                return Err(QueryError::location(
                    40238,
                    "Location40238",
                    format!("The field '{name}' must specify one accumulator"),
                ));
            };
            let (kind, expr) = parse_accumulator(operator, argument)?;
            fields.push((name.clone(), kind, expr));
        }
        Ok(Group { id, fields })
    }

    /// Groups in order of first appearance (MongoDB leaves the order unspecified).
    pub(super) fn run(&self, docs: &[Document]) -> Result<Vec<Document>, QueryError> {
        let mut index: BTreeMap<Key, usize> = BTreeMap::new();
        let mut groups: Vec<(Bson, Vec<State>)> = Vec::new();
        for doc in docs {
            let key = self.id.eval(doc).unwrap_or(Bson::Null);
            let position = match index.get(&Key(key.clone())) {
                Some(position) => *position,
                None => {
                    let states = self
                        .fields
                        .iter()
                        .map(|(_, kind, _)| State::new(*kind))
                        .collect();
                    groups.push((key.clone(), states));
                    index.insert(Key(key), groups.len() - 1);
                    groups.len() - 1
                }
            };
            if let Some((_, states)) = groups.get_mut(position) {
                for (state, (_, _, expr)) in states.iter_mut().zip(&self.fields) {
                    state.add(expr.eval(doc));
                }
            }
        }
        groups
            .into_iter()
            .map(|(key, states)| {
                let mut out = Document::new();
                out.insert("_id", key);
                for (state, (name, _, _)) in states.into_iter().zip(&self.fields) {
                    out.insert(name.clone(), state.finish(name)?);
                }
                Ok(out)
            })
            .collect()
    }
}

fn parse_accumulator(operator: &str, argument: &Bson) -> Result<(Accumulator, Expr), QueryError> {
    let kind = match operator {
        "$sum" => Accumulator::Sum,
        "$avg" => Accumulator::Avg,
        "$min" => Accumulator::Min,
        "$max" => Accumulator::Max,
        "$first" => Accumulator::First,
        "$last" => Accumulator::Last,
        "$push" => Accumulator::Push,
        "$addToSet" => Accumulator::AddToSet,
        "$count" => {
            // {$count: {}} is {$sum: 1}.
            if !matches!(argument, Bson::Document(args) if args.is_empty()) {
                return Err(QueryError::location(
                    40156,
                    "Location40156",
                    "$count takes no arguments, i.e. $count:{}",
                ));
            }
            return Ok((Accumulator::Sum, Expr::Literal(Bson::Int32(1))));
        }
        _ if UNSUPPORTED_ACCUMULATORS.contains(&operator) => {
            return Err(QueryError::unsupported(format!(
                "the {operator} accumulator"
            )))
        }
        _ => {
            return Err(QueryError::location(
                15952,
                "Location15952",
                format!("unknown group operator '{operator}'"),
            ))
        }
    };
    if matches!(argument, Bson::Array(_)) {
        // An array argument is the syntax of the expression forms ({$sum: [a, b]}), which are
        // not accumulators in $group.
        return Err(QueryError::location(
            40237,
            "Location40237",
            format!("The {operator} accumulator is a unary operator"),
        ));
    }
    Ok((kind, Expr::parse(argument)?))
}

// === impl Key ===

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        equal(&self.0, &other.0)
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        compare(&self.0, &other.0)
    }
}

// === impl State ===

impl State {
    fn new(kind: Accumulator) -> State {
        match kind {
            Accumulator::Sum => State::Sum(Summer::default()),
            Accumulator::Avg => State::Avg(Summer::default()),
            Accumulator::Min => State::Min(None),
            Accumulator::Max => State::Max(None),
            Accumulator::First => State::First(None),
            Accumulator::Last => State::Last(Bson::Null),
            Accumulator::Push => State::Push(Vec::new()),
            Accumulator::AddToSet => State::AddToSet(Vec::new()),
        }
    }

    /// Feeds one document's value (`None` when missing).
    fn add(&mut self, value: Option<Bson>) {
        match self {
            State::Sum(summer) | State::Avg(summer) => {
                if let Some(value) = &value {
                    summer.add(value);
                }
            }
            State::Min(best) => keep_extreme(best, value, Ordering::Less),
            State::Max(best) => keep_extreme(best, value, Ordering::Greater),
            State::First(first) => {
                if first.is_none() {
                    *first = Some(value.unwrap_or(Bson::Null));
                }
            }
            State::Last(last) => *last = value.unwrap_or(Bson::Null),
            State::Push(values) => values.extend(value),
            State::AddToSet(values) => {
                if let Some(value) = value {
                    if !values.iter().any(|seen| equal(seen, &value)) {
                        values.push(value);
                    }
                }
            }
        }
    }

    fn finish(self, field: &str) -> Result<Bson, QueryError> {
        Ok(match self {
            State::Sum(summer) => summer.total(field)?,
            State::Avg(summer) => summer.average(field)?,
            State::Min(best) | State::Max(best) => best.unwrap_or(Bson::Null),
            State::First(first) => first.unwrap_or(Bson::Null),
            State::Last(last) => last,
            State::Push(values) | State::AddToSet(values) => Bson::Array(values),
        })
    }
}

/// $min and $max: null and missing values are ignored.
fn keep_extreme(best: &mut Option<Bson>, value: Option<Bson>, wanted: Ordering) {
    let Some(value) = value.filter(|v| !matches!(v, Bson::Null | Bson::Undefined)) else {
        return;
    };
    if best
        .as_ref()
        .is_none_or(|current| compare(&value, current) == wanted)
    {
        *best = Some(value);
    }
}

// === impl Summer ===

impl Summer {
    /// Non-numeric values (strings, arrays, null, …) are ignored, as in MongoDB.
    fn add(&mut self, value: &Bson) {
        match value {
            Bson::Int32(v) => self.integers += i128::from(*v),
            Bson::Int64(v) => {
                self.integers += i128::from(*v);
                self.widest = self.widest.max(Width::Int64);
            }
            Bson::Double(v) => {
                self.doubles += v;
                self.widest = Width::Double;
            }
            Bson::Decimal128(_) => self.has_decimal = true,
            _ => return,
        }
        self.count += 1;
    }

    fn check_decimal(&self, field: &str) -> Result<(), QueryError> {
        if self.has_decimal {
            return Err(QueryError::unsupported(format!(
                "Decimal128 arithmetic (accumulating '{field}')"
            )));
        }
        Ok(())
    }

    fn as_f64(&self) -> f64 {
        // Integer totals beyond 2^53 lose precision here exactly as MongoDB's double sums do.
        self.integers as f64 + self.doubles
    }

    fn total(&self, field: &str) -> Result<Bson, QueryError> {
        self.check_decimal(field)?;
        let as_i32 = i32::try_from(self.integers).ok();
        let as_i64 = i64::try_from(self.integers).ok();
        Ok(match (self.widest, as_i32, as_i64) {
            (Width::Int32, Some(total), _) => Bson::Int32(total),
            (Width::Int32 | Width::Int64, _, Some(total)) => Bson::Int64(total),
            _ => Bson::Double(self.as_f64()),
        })
    }

    fn average(&self, field: &str) -> Result<Bson, QueryError> {
        self.check_decimal(field)?;
        if self.count == 0 {
            return Ok(Bson::Null);
        }
        Ok(Bson::Double(self.as_f64() / self.count as f64))
    }
}
