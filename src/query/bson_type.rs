//! BSON type codes and the `$type` aliases, for the `$type` query operator.

use bson::Bson;

use super::error::QueryError;
use super::number::Number;

/// `$type` aliases and their numeric codes (MongoDB's `kTypeAliasMap`).
const ALIASES: &[(&str, i32)] = &[
    ("double", 1),
    ("string", 2),
    ("object", 3),
    ("array", 4),
    ("binData", 5),
    ("undefined", 6),
    ("objectId", 7),
    ("bool", 8),
    ("date", 9),
    ("null", 10),
    ("regex", 11),
    ("dbPointer", 12),
    ("javascript", 13),
    ("symbol", 14),
    ("javascriptWithScope", 15),
    ("int", 16),
    ("timestamp", 17),
    ("long", 18),
    ("decimal", 19),
    ("minKey", -1),
    ("maxKey", 127),
];

/// The set of types a `$type` operator accepts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TypeSet {
    /// The "number" alias: any of double, int, long, decimal.
    all_numbers: bool,
    codes: Vec<i32>,
}

// === impl TypeSet ===

impl TypeSet {
    /// Parses `$type`'s argument: a code, an alias, or an array of those.
    pub(crate) fn parse(spec: &Bson) -> Result<Self, QueryError> {
        let mut set = TypeSet {
            all_numbers: false,
            codes: Vec::new(),
        };
        match spec {
            Bson::Array(items) => {
                for item in items {
                    set.add(item)?;
                }
                if items.is_empty() {
                    return Err(QueryError::failed_to_parse(
                        "$type must match at least one type",
                    ));
                }
            }
            single => set.add(single)?,
        }
        Ok(set)
    }

    fn add(&mut self, spec: &Bson) -> Result<(), QueryError> {
        if let Bson::String(alias) = spec {
            if alias == "number" {
                self.all_numbers = true;
                return Ok(());
            }
            let code = ALIASES
                .iter()
                .find(|(name, _)| name == alias)
                .map(|(_, code)| *code)
                .ok_or_else(|| {
                    QueryError::bad_value(format!("Unknown type name alias: {alias}"))
                })?;
            self.codes.push(code);
            return Ok(());
        }
        let Some(number) = Number::of(spec) else {
            return Err(QueryError::type_mismatch(
                "type must be represented as a number or a string",
            ));
        };
        let code = number
            .exact_i64()
            .and_then(|code| i32::try_from(code).ok())
            .filter(|code| ALIASES.iter().any(|(_, known)| known == code))
            .ok_or_else(|| QueryError::bad_value(format!("Invalid numerical type code: {spec}")))?;
        self.codes.push(code);
        Ok(())
    }

    pub(crate) fn contains(&self, value: &Bson) -> bool {
        (self.all_numbers && Number::of(value).is_some()) || self.codes.contains(&type_code(value))
    }
}

/// The BSON type byte of a value, as `$type` numbers it.
pub(crate) fn type_code(value: &Bson) -> i32 {
    match value {
        Bson::Double(_) => 1,
        Bson::String(_) => 2,
        Bson::Document(_) => 3,
        Bson::Array(_) => 4,
        Bson::Binary(_) => 5,
        Bson::Undefined => 6,
        Bson::ObjectId(_) => 7,
        Bson::Boolean(_) => 8,
        Bson::DateTime(_) => 9,
        Bson::Null => 10,
        Bson::RegularExpression(_) => 11,
        Bson::DbPointer(_) => 12,
        Bson::JavaScriptCode(_) => 13,
        Bson::Symbol(_) => 14,
        Bson::JavaScriptCodeWithScope(_) => 15,
        Bson::Int32(_) => 16,
        Bson::Timestamp(_) => 17,
        Bson::Int64(_) => 18,
        Bson::Decimal128(_) => 19,
        Bson::MinKey => -1,
        Bson::MaxKey => 127,
    }
}

/// MongoDB's `BSONElement::trueValue`: how a value reads as a flag (`$exists: 0`, `{a: false}` in
/// a projection). Null, undefined, false and numeric zero are false; everything else, NaN
/// included, is true.
pub(crate) fn truthy(value: &Bson) -> bool {
    match value {
        Bson::Boolean(flag) => *flag,
        Bson::Null | Bson::Undefined => false,
        other => Number::of(other).is_none_or(|number| !number.is_zero()),
    }
}

/// The type's name as MongoDB prints it in error messages.
pub(crate) fn type_name(value: &Bson) -> &'static str {
    let code = type_code(value);
    ALIASES
        .iter()
        .find(|(_, known)| *known == code)
        .map_or("unknown", |(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use bson::doc;

    use super::*;

    #[test]
    fn aliases_codes_and_arrays() {
        let set = TypeSet::parse(&Bson::String("number".into())).expect("alias");
        assert!(set.contains(&Bson::Int64(1)));
        assert!(set.contains(&Bson::Double(f64::NAN)));
        assert!(!set.contains(&Bson::String("1".into())));

        let set = TypeSet::parse(&Bson::Double(2.0)).expect("code");
        assert!(set.contains(&Bson::String(String::new())));

        let set = TypeSet::parse(&bson::bson!(["null", 4])).expect("array");
        assert!(set.contains(&Bson::Null));
        assert!(set.contains(&bson::bson!([1])));
        assert!(!set.contains(&Bson::Undefined));
    }

    #[test]
    fn rejects_bad_specs() {
        assert_eq!(
            TypeSet::parse(&Bson::Int32(100)).map_err(|e| e.code),
            Err(2)
        );
        assert_eq!(
            TypeSet::parse(&Bson::Double(1.5)).map_err(|e| e.code),
            Err(2)
        );
        assert_eq!(
            TypeSet::parse(&Bson::String("nope".into())).map_err(|e| e.code),
            Err(2)
        );
        assert_eq!(TypeSet::parse(&bson::bson!([])).map_err(|e| e.code), Err(9));
        assert_eq!(
            TypeSet::parse(&Bson::Document(doc! {})).map_err(|e| e.code),
            Err(14)
        );
    }

    #[test]
    fn truthiness() {
        assert!(!truthy(&Bson::Int32(0)));
        assert!(!truthy(&Bson::Double(-0.0)));
        assert!(truthy(&Bson::Double(f64::NAN)));
        assert!(!truthy(&Bson::Null));
        assert!(truthy(&Bson::String(String::new())));
        assert!(!truthy(&Bson::Boolean(false)));
    }

    #[test]
    fn names() {
        assert_eq!(type_name(&Bson::Int32(1)), "int");
        assert_eq!(type_name(&Bson::Document(doc! {})), "object");
    }
}
