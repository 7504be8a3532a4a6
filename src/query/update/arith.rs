//! `$inc` and `$mul` arithmetic with MongoDB's result types: Int32 with Int32 stays Int32 and
//! widens to Int64 on overflow; anything with Int64 is Int64 (overflow is an error); anything
//! with a Double is a Double.

use crate::query::number::Number;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arith {
    Add,
    Mul,
}

/// Why an operation has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArithError {
    Overflow,
    Decimal,
}

// === impl Arith ===

impl Arith {
    pub(super) fn apply(self, current: Number, operand: Number) -> Result<Number, ArithError> {
        use Number::*;
        match (current, operand) {
            (Decimal(_), _) | (_, Decimal(_)) => Err(ArithError::Decimal),
            (Double(a), b) | (b, Double(a)) => Ok(Double(self.float(a, as_f64(b)))),
            (Int32(a), Int32(b)) => Ok(match self.int32(a, b) {
                Some(result) => Int32(result),
                // Both fit in 32 bits, so the 64-bit result cannot overflow.
                None => Int64(self.int64(i64::from(a), i64::from(b)).unwrap_or(0)),
            }),
            (a, b) => self
                .int64(as_i64(a), as_i64(b))
                .map(Int64)
                .ok_or(ArithError::Overflow),
        }
    }

    fn int32(self, a: i32, b: i32) -> Option<i32> {
        match self {
            Arith::Add => a.checked_add(b),
            Arith::Mul => a.checked_mul(b),
        }
    }

    fn int64(self, a: i64, b: i64) -> Option<i64> {
        match self {
            Arith::Add => a.checked_add(b),
            Arith::Mul => a.checked_mul(b),
        }
    }

    fn float(self, a: f64, b: f64) -> f64 {
        match self {
            Arith::Add => a + b,
            Arith::Mul => a * b,
        }
    }
}

fn as_f64(number: Number) -> f64 {
    match number {
        Number::Int32(v) => f64::from(v),
        // Precision loss above 2^53 is inherent in mixing a long with a double, as in MongoDB.
        Number::Int64(v) => v as f64,
        Number::Double(v) => v,
        Number::Decimal(_) => f64::NAN,
    }
}

fn as_i64(number: Number) -> i64 {
    match number {
        Number::Int32(v) => i64::from(v),
        Number::Int64(v) => v,
        Number::Double(_) | Number::Decimal(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_types() {
        use Number::*;
        assert_eq!(Arith::Add.apply(Int32(1), Int32(2)), Ok(Int32(3)));
        assert_eq!(
            Arith::Add.apply(Int32(i32::MAX), Int32(1)),
            Ok(Int64(i64::from(i32::MAX) + 1))
        );
        assert_eq!(
            Arith::Mul.apply(Int32(i32::MAX), Int32(i32::MAX)),
            Ok(Int64(i64::from(i32::MAX) * i64::from(i32::MAX)))
        );
        assert_eq!(Arith::Add.apply(Int32(1), Int64(2)), Ok(Int64(3)));
        assert_eq!(
            Arith::Add.apply(Int64(i64::MAX), Int32(1)),
            Err(ArithError::Overflow)
        );
        assert_eq!(
            Arith::Mul.apply(Int64(i64::MIN), Int64(-1)),
            Err(ArithError::Overflow)
        );
        assert_eq!(Arith::Add.apply(Int32(1), Double(0.5)), Ok(Double(1.5)));
        assert_eq!(Arith::Mul.apply(Double(2.0), Int64(3)), Ok(Double(6.0)));
        assert!(
            matches!(Arith::Add.apply(Double(f64::NAN), Int32(1)), Ok(Double(v)) if v.is_nan())
        );
    }
}
