//! Just enough of IEEE 754-2008 decimal128 (the BID encoding BSON stores) to order Decimal128
//! values against each other and against the binary number types. Arithmetic on decimals is not
//! implemented; callers refuse it with an "unsupported" error instead.

use std::cmp::Ordering;

use bson::Decimal128;

/// Largest valid decimal128 coefficient (34 nines). Larger encodings are non-canonical and the
/// standard says to read them as zero.
const MAX_COEFFICIENT: u128 = 9_999_999_999_999_999_999_999_999_999_999_999;
const EXPONENT_BIAS: i64 = 6176;

/// A number as sign, significant digits and exponent: value = 0.d1d2d3… × 10^exp.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decimal {
    NaN,
    Infinity {
        negative: bool,
    },
    Finite {
        negative: bool,
        /// ASCII digits without leading or trailing zeros; empty means zero.
        digits: Vec<u8>,
        exp: i64,
    },
}

// === impl Decimal ===

impl Decimal {
    pub(crate) fn from_decimal128(value: &Decimal128) -> Self {
        let bits = u128::from_le_bytes(value.bytes());
        let negative = bits >> 127 == 1;
        if (bits >> 123) & 0xf == 0xf {
            return if (bits >> 122) & 1 == 1 {
                Decimal::NaN
            } else {
                Decimal::Infinity { negative }
            };
        }
        let (exponent_bits, coefficient) = if (bits >> 125) & 0b11 == 0b11 {
            // The "large coefficient" form always exceeds MAX_COEFFICIENT in decimal128.
            ((bits >> 111) & 0x3fff, 0)
        } else {
            ((bits >> 113) & 0x3fff, bits & ((1u128 << 113) - 1))
        };
        let coefficient = if coefficient > MAX_COEFFICIENT {
            0
        } else {
            coefficient
        };
        // `exponent_bits` has 14 bits, so the conversion cannot fail.
        let exponent = i64::try_from(exponent_bits).unwrap_or(0) - EXPONENT_BIAS;
        Self::finite(negative, coefficient.to_string().into_bytes(), exponent)
    }

    pub(crate) fn from_i64(value: i64) -> Self {
        Self::finite(value < 0, value.unsigned_abs().to_string().into_bytes(), 0)
    }

    /// MongoDB compares a double with a decimal by first rounding the double to 34 significant
    /// decimal digits (`Decimal128(double, kRoundTo34Digits)`); Rust's `{:e}` with a precision
    /// rounds exactly, so this reproduces it.
    pub(crate) fn from_f64(value: f64) -> Self {
        if value.is_nan() {
            return Decimal::NaN;
        }
        if value.is_infinite() {
            return Decimal::Infinity {
                negative: value < 0.0,
            };
        }
        if value == 0.0 {
            return Self::zero();
        }
        let text = format!("{:.33e}", value.abs());
        let Some((mantissa, exponent)) = text.split_once('e') else {
            return Self::zero();
        };
        let exponent: i64 = exponent.parse().unwrap_or(0);
        let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        // mantissa is d.ddd…, i.e. 0.dddd… × 10^(exponent + 1); `finite` counts from the last digit.
        let len = i64::try_from(digits.len()).unwrap_or(0);
        Self::finite(value < 0.0, digits, exponent + 1 - len)
    }

    fn zero() -> Self {
        Decimal::Finite {
            negative: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// Builds `digits × 10^exp10` (digits as ASCII) in normal form.
    fn finite(negative: bool, mut digits: Vec<u8>, exp10: i64) -> Self {
        let leading = digits.iter().take_while(|d| **d == b'0').count();
        digits.drain(..leading);
        if digits.is_empty() {
            return Self::zero();
        }
        // The leading digit's position is fixed before trailing zeros are dropped.
        let exp = exp10 + i64::try_from(digits.len()).unwrap_or(0);
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        Decimal::Finite {
            negative,
            digits,
            exp,
        }
    }

    pub(crate) fn is_nan(&self) -> bool {
        matches!(self, Decimal::NaN)
    }

    pub(crate) fn is_zero(&self) -> bool {
        matches!(self, Decimal::Finite { digits, .. } if digits.is_empty())
    }

    /// Total order used by MongoDB: NaN first (and equal to itself), then -inf, the finite
    /// values, +inf. Zero is unsigned.
    pub(crate) fn total_cmp(&self, other: &Self) -> Ordering {
        self.class()
            .cmp(&other.class())
            .then_with(|| match (self, other) {
                (
                    Decimal::Finite {
                        negative: false,
                        digits: a,
                        exp: ea,
                    },
                    Decimal::Finite {
                        digits: b, exp: eb, ..
                    },
                ) => magnitude_cmp(a, *ea, b, *eb),
                (
                    Decimal::Finite {
                        negative: true,
                        digits: a,
                        exp: ea,
                    },
                    Decimal::Finite {
                        digits: b, exp: eb, ..
                    },
                ) => magnitude_cmp(b, *eb, a, *ea),
                _ => Ordering::Equal,
            })
    }

    /// Coarse position on the number line; values in the same class need a closer look only when
    /// both are non-zero finite numbers of the same sign.
    fn class(&self) -> u8 {
        match self {
            Decimal::NaN => 0,
            Decimal::Infinity { negative: true } => 1,
            Decimal::Finite {
                negative, digits, ..
            } if !digits.is_empty() && *negative => 2,
            Decimal::Finite { digits, .. } if digits.is_empty() => 3,
            Decimal::Finite { .. } => 4,
            Decimal::Infinity { negative: false } => 5,
        }
    }

    /// The integer part, truncated toward zero, when it fits an i64 (NaN and infinities do not).
    pub(crate) fn trunc_i64(&self) -> Option<i64> {
        let Decimal::Finite {
            negative,
            digits,
            exp,
        } = self
        else {
            return None;
        };
        if *exp <= 0 || digits.is_empty() {
            return Some(0);
        }
        let int_len = usize::try_from(*exp).ok().filter(|len| *len <= 19)?;
        let mut magnitude: i128 = 0;
        for position in 0..int_len {
            let digit = digits.get(position).map_or(0, |d| i128::from(d - b'0'));
            magnitude = magnitude * 10 + digit;
        }
        i64::try_from(if *negative { -magnitude } else { magnitude }).ok()
    }
}

fn magnitude_cmp(a: &[u8], exp_a: i64, b: &[u8], exp_b: i64) -> Ordering {
    // Both are normalised 0.d1d2… × 10^exp with d1 != 0, so the exponent decides first and the
    // digit strings (without trailing zeros) compare lexicographically after that.
    exp_a.cmp(&exp_b).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_decimal128(&Decimal128::from_str(text).expect("valid decimal literal"))
    }

    #[test]
    fn decodes_and_orders() {
        assert_eq!(dec("1.50").total_cmp(&dec("1.5")), Ordering::Equal);
        assert_eq!(dec("-0").total_cmp(&dec("0")), Ordering::Equal);
        assert_eq!(dec("2").total_cmp(&dec("10")), Ordering::Less);
        assert_eq!(dec("-2").total_cmp(&dec("-10")), Ordering::Greater);
        assert_eq!(
            dec("1E+3").total_cmp(&Decimal::from_i64(1000)),
            Ordering::Equal
        );
        assert_eq!(dec("NaN").total_cmp(&dec("-Infinity")), Ordering::Less);
        assert_eq!(
            dec("Infinity").total_cmp(&Decimal::from_f64(f64::MAX)),
            Ordering::Greater
        );
        assert!(dec("NaN").is_nan());
        assert!(dec("0.000").is_zero());
    }

    #[test]
    fn doubles_round_to_34_digits() {
        // 0.1 as a double is 0.1000000000000000055511151231257827…, so it is not decimal 0.1.
        assert_eq!(
            Decimal::from_f64(0.1).total_cmp(&dec("0.1")),
            Ordering::Greater
        );
        assert_eq!(
            Decimal::from_f64(0.5).total_cmp(&dec("0.5")),
            Ordering::Equal
        );
        assert_eq!(
            Decimal::from_f64(-3.0).total_cmp(&Decimal::from_i64(-3)),
            Ordering::Equal
        );
        assert_eq!(
            Decimal::from_i64(i64::MIN).total_cmp(&Decimal::from_f64(i64::MIN as f64)),
            Ordering::Equal
        );
    }

    #[test]
    fn truncates_to_integer() {
        assert_eq!(dec("12.9").trunc_i64(), Some(12));
        assert_eq!(dec("-12.9").trunc_i64(), Some(-12));
        assert_eq!(dec("0.5").trunc_i64(), Some(0));
        assert_eq!(dec("1E+2").trunc_i64(), Some(100));
        assert_eq!(dec("1E+30").trunc_i64(), None);
        assert_eq!(dec("NaN").trunc_i64(), None);
    }
}
