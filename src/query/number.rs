//! The four BSON number types as one value, ordered the way MongoDB orders them: numerically
//! across types, with NaN below every other number and equal to itself.

use std::cmp::Ordering;

use bson::{Bson, Decimal128};

use super::decimal::Decimal;

/// 2^63 as a double: the first double that no i64 can hold.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int32(i32),
    Int64(i64),
    Double(f64),
    Decimal(Decimal128),
}

// === impl Number ===

impl Number {
    pub(crate) fn of(value: &Bson) -> Option<Number> {
        match value {
            Bson::Int32(v) => Some(Number::Int32(*v)),
            Bson::Int64(v) => Some(Number::Int64(*v)),
            Bson::Double(v) => Some(Number::Double(*v)),
            Bson::Decimal128(v) => Some(Number::Decimal(*v)),
            _ => None,
        }
    }

    pub(crate) fn to_bson(self) -> Bson {
        match self {
            Number::Int32(v) => Bson::Int32(v),
            Number::Int64(v) => Bson::Int64(v),
            Number::Double(v) => Bson::Double(v),
            Number::Decimal(v) => Bson::Decimal128(v),
        }
    }

    pub(crate) fn is_nan(&self) -> bool {
        match self {
            Number::Double(v) => v.is_nan(),
            Number::Decimal(v) => Decimal::from_decimal128(v).is_nan(),
            Number::Int32(_) | Number::Int64(_) => false,
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        match self {
            Number::Int32(v) => *v == 0,
            Number::Int64(v) => *v == 0,
            Number::Double(v) => *v == 0.0,
            Number::Decimal(v) => Decimal::from_decimal128(v).is_zero(),
        }
    }

    /// The value truncated toward zero, when finite and inside the i64 range.
    pub(crate) fn trunc_i64(&self) -> Option<i64> {
        match self {
            Number::Int32(v) => Some(i64::from(*v)),
            Number::Int64(v) => Some(*v),
            Number::Double(v) => double_to_i64(v.trunc()),
            Number::Decimal(v) => Decimal::from_decimal128(v).trunc_i64(),
        }
    }

    /// The value as an i64 when it is integral (so 2.0 qualifies and 2.5 does not).
    pub(crate) fn exact_i64(&self) -> Option<i64> {
        match self {
            Number::Double(v) if v.fract() != 0.0 => None,
            Number::Decimal(v) => {
                let decimal = Decimal::from_decimal128(v);
                let truncated = decimal.trunc_i64()?;
                (decimal.total_cmp(&Decimal::from_i64(truncated)) == Ordering::Equal)
                    .then_some(truncated)
            }
            _ => self.trunc_i64(),
        }
    }

    pub(crate) fn total_cmp(&self, other: &Number) -> Ordering {
        use Number::*;
        match (*self, *other) {
            (Decimal(_), _) | (_, Decimal(_)) => self.as_decimal().total_cmp(&other.as_decimal()),
            (Double(a), Double(b)) => cmp_f64(a, b),
            (Double(a), b) => cmp_i64_f64(b.as_i64_lossless(), a).reverse(),
            (a, Double(b)) => cmp_i64_f64(a.as_i64_lossless(), b),
            (a, b) => a.as_i64_lossless().cmp(&b.as_i64_lossless()),
        }
    }

    /// Only meaningful for the two integer variants.
    fn as_i64_lossless(&self) -> i64 {
        match self {
            Number::Int32(v) => i64::from(*v),
            Number::Int64(v) => *v,
            Number::Double(_) | Number::Decimal(_) => 0,
        }
    }

    fn as_decimal(&self) -> Decimal {
        match self {
            Number::Int32(v) => Decimal::from_i64(i64::from(*v)),
            Number::Int64(v) => Decimal::from_i64(*v),
            Number::Double(v) => Decimal::from_f64(*v),
            Number::Decimal(v) => Decimal::from_decimal128(v),
        }
    }
}

fn double_to_i64(value: f64) -> Option<i64> {
    // `as` saturates, so the range test has to come first; -2^63 itself is representable.
    if value.is_finite() && (-TWO_POW_63..TWO_POW_63).contains(&value) {
        Some(value as i64)
    } else {
        None
    }
}

fn cmp_f64(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        // Neither is NaN, so partial_cmp is total here (and -0.0 == 0.0).
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Exact comparison of an integer with a double, without the rounding of `i as f64`.
fn cmp_i64_f64(i: i64, f: f64) -> Ordering {
    if f.is_nan() {
        return Ordering::Greater;
    }
    if f >= TWO_POW_63 {
        return Ordering::Less;
    }
    if f < -TWO_POW_63 {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // In range and integral, so the cast is exact.
    let whole_int = whole as i64;
    i.cmp(&whole_int).then_with(|| {
        let fraction = f - whole;
        if fraction > 0.0 {
            Ordering::Less
        } else if fraction < 0.0 {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: Bson, b: Bson) -> Ordering {
        Number::of(&a)
            .zip(Number::of(&b))
            .map(|(a, b)| a.total_cmp(&b))
            .expect("numbers")
    }

    #[test]
    fn cross_type_equality() {
        assert_eq!(cmp(Bson::Int32(1), Bson::Double(1.0)), Ordering::Equal);
        assert_eq!(cmp(Bson::Int64(1), Bson::Int32(1)), Ordering::Equal);
        assert_eq!(cmp(Bson::Double(-0.0), Bson::Int32(0)), Ordering::Equal);
    }

    #[test]
    fn large_integers_are_exact() {
        // i64::MAX as f64 rounds up to 2^63, which is larger than every i64.
        assert_eq!(
            cmp(Bson::Int64(i64::MAX), Bson::Double(i64::MAX as f64)),
            Ordering::Less
        );
        assert_eq!(
            cmp(Bson::Int64(i64::MIN), Bson::Double(i64::MIN as f64)),
            Ordering::Equal
        );
        assert_eq!(
            cmp(
                Bson::Int64(9_007_199_254_740_993),
                Bson::Double(9_007_199_254_740_992.0)
            ),
            Ordering::Greater
        );
        assert_eq!(cmp(Bson::Int32(2), Bson::Double(2.5)), Ordering::Less);
        assert_eq!(cmp(Bson::Int32(-2), Bson::Double(-2.5)), Ordering::Greater);
    }

    #[test]
    fn nan_is_lowest_and_self_equal() {
        assert_eq!(
            cmp(Bson::Double(f64::NAN), Bson::Double(f64::NAN)),
            Ordering::Equal
        );
        assert_eq!(
            cmp(Bson::Double(f64::NAN), Bson::Int64(i64::MIN)),
            Ordering::Less
        );
        assert_eq!(
            cmp(Bson::Double(f64::NEG_INFINITY), Bson::Double(f64::NAN)),
            Ordering::Greater
        );
    }

    #[test]
    fn truncation() {
        assert_eq!(Number::Double(-3.9).trunc_i64(), Some(-3));
        assert_eq!(Number::Double(1e300).trunc_i64(), None);
        assert_eq!(Number::Double(f64::NAN).trunc_i64(), None);
        assert_eq!(Number::Double(2.0).exact_i64(), Some(2));
        assert_eq!(Number::Double(2.5).exact_i64(), None);
    }
}
