use std::cmp::Ordering::{self, Equal, Greater, Less};
use std::str::FromStr;

use bson::{
    bson, doc, oid::ObjectId, spec::BinarySubtype, Binary, Bson, DateTime, Decimal128,
    JavaScriptCodeWithScope, Regex, Timestamp,
};

use super::*;

fn dec(text: &str) -> Bson {
    Bson::Decimal128(Decimal128::from_str(text).expect("decimal literal"))
}

fn regex(pattern: &str, options: &str) -> Bson {
    Bson::RegularExpression(Regex {
        pattern: pattern.into(),
        options: options.into(),
    })
}

/// One value from every type bracket, in MongoDB's ascending order.
fn one_of_each_bracket() -> Vec<Bson> {
    vec![
        Bson::MinKey,
        Bson::Null,
        Bson::Int32(-5),
        Bson::String("a".into()),
        Bson::Document(doc! {"a": 1}),
        bson!([1]),
        Bson::Binary(Binary {
            subtype: BinarySubtype::Generic,
            bytes: vec![1],
        }),
        Bson::ObjectId(ObjectId::from_bytes([0; 12])),
        Bson::Boolean(false),
        Bson::DateTime(DateTime::from_millis(0)),
        Bson::Timestamp(Timestamp {
            time: 0,
            increment: 0,
        }),
        regex("a", ""),
        Bson::JavaScriptCode("x".into()),
        Bson::JavaScriptCodeWithScope(JavaScriptCodeWithScope {
            code: "x".into(),
            scope: doc! {},
        }),
        Bson::MaxKey,
    ]
}

#[test]
fn type_brackets_are_ordered() {
    let values = one_of_each_bracket();
    for (i, a) in values.iter().enumerate() {
        for (j, b) in values.iter().enumerate() {
            assert_eq!(compare(a, b), i.cmp(&j), "{a} vs {b}");
        }
    }
}

#[test]
fn brackets_beat_values() {
    // A huge number is still below the empty string; false is above every ObjectId.
    assert_eq!(compare(&Bson::Double(f64::INFINITY), &bson!("")), Less);
    assert_eq!(
        compare(
            &Bson::Boolean(false),
            &Bson::ObjectId(ObjectId::from_bytes([255; 12]))
        ),
        Greater
    );
    assert_eq!(compare(&Bson::Null, &Bson::Double(f64::NAN)), Less);
}

#[test]
fn null_and_undefined_share_a_bracket() {
    assert!(equal(&Bson::Null, &Bson::Undefined));
    assert!(equal(&Bson::MinKey, &Bson::MinKey));
    assert!(equal(&Bson::MaxKey, &Bson::MaxKey));
}

#[test]
fn numbers_compare_across_types() {
    assert!(equal(&Bson::Int32(1), &Bson::Double(1.0)));
    assert!(equal(&Bson::Int32(1), &Bson::Int64(1)));
    assert!(equal(&Bson::Int64(1), &dec("1.0")));
    assert!(equal(&Bson::Double(-0.0), &Bson::Double(0.0)));
    assert!(equal(&Bson::Double(f64::NAN), &Bson::Double(f64::NAN)));
    assert!(equal(&Bson::Double(f64::NAN), &dec("NaN")));
    assert_eq!(
        compare(&Bson::Double(f64::NAN), &Bson::Double(f64::NEG_INFINITY)),
        Less
    );
    assert_eq!(compare(&Bson::Int64(i64::MAX), &Bson::Double(9.3e18)), Less);
    assert_eq!(
        compare(&Bson::Int64(i64::MAX), &Bson::Int64(i64::MAX - 1)),
        Greater
    );
    assert_eq!(compare(&dec("2.5"), &Bson::Int32(2)), Greater);
    assert_eq!(compare(&dec("-Infinity"), &Bson::Int64(i64::MIN)), Less);
}

#[test]
fn strings_compare_by_utf8_bytes() {
    assert_eq!(compare(&bson!("B"), &bson!("a")), Less);
    assert_eq!(compare(&bson!(""), &bson!("a")), Less);
    assert_eq!(compare(&bson!("z"), &bson!("é")), Less);
    assert_eq!(compare(&bson!("ab"), &bson!("abc")), Less);
    assert!(equal(&bson!("x"), &Bson::Symbol("x".into())));
}

#[test]
fn documents_compare_field_by_field() {
    let cmp = |a: Bson, b: Bson| compare(&a, &b);
    // Field order matters.
    assert_ne!(cmp(bson!({"a": 1, "b": 2}), bson!({"b": 2, "a": 1})), Equal);
    // Type bracket of the value comes before the field name.
    assert_eq!(cmp(bson!({"z": 1}), bson!({"a": "x"})), Less);
    // Then the field name, then the value.
    assert_eq!(cmp(bson!({"a": 5}), bson!({"b": 1})), Less);
    assert_eq!(cmp(bson!({"a": 1}), bson!({"a": 2})), Less);
    // A prefix is smaller.
    assert_eq!(cmp(bson!({"a": 1}), bson!({"a": 1, "b": 0})), Less);
    assert_eq!(cmp(bson!({}), bson!({"a": 1})), Less);
    assert!(equal(&bson!({"a": 1}), &bson!({"a": 1.0})));
}

#[test]
fn arrays_compare_element_wise_then_length() {
    let cmp = |a: Bson, b: Bson| compare(&a, &b);
    assert_eq!(cmp(bson!([1, 2]), bson!([1, 3])), Less);
    assert_eq!(cmp(bson!([1, 2]), bson!([1, 2, 0])), Less);
    assert_eq!(cmp(bson!([]), Bson::Array(vec![Bson::MinKey])), Less);
    assert_eq!(cmp(bson!([2]), bson!([1, 5])), Greater);
    assert_eq!(cmp(bson!([[1]]), bson!([1])), Greater);
}

#[test]
fn other_types() {
    let bin = |subtype: BinarySubtype, bytes: Vec<u8>| Bson::Binary(Binary { subtype, bytes });
    // Binary: length first, then subtype, then bytes.
    assert_eq!(
        compare(
            &bin(BinarySubtype::Generic, vec![9]),
            &bin(BinarySubtype::Generic, vec![0, 0])
        ),
        Less
    );
    assert_eq!(
        compare(
            &bin(BinarySubtype::Uuid, vec![0]),
            &bin(BinarySubtype::Generic, vec![1])
        ),
        Greater
    );
    assert_eq!(compare(&Bson::Boolean(false), &Bson::Boolean(true)), Less);
    assert_eq!(
        compare(
            &Bson::DateTime(DateTime::from_millis(-1)),
            &Bson::DateTime(DateTime::from_millis(0))
        ),
        Less
    );
    let ts = |time, increment| Bson::Timestamp(Timestamp { time, increment });
    assert_eq!(compare(&ts(1, 9), &ts(2, 0)), Less);
    assert_eq!(compare(&ts(1, 1), &ts(1, 2)), Less);
    assert_eq!(compare(&regex("a", "i"), &regex("a", "m")), Less);
    assert_eq!(compare(&regex("a", "z"), &regex("b", "")), Less);
    let a = ObjectId::from_bytes([1; 12]);
    let b = ObjectId::from_bytes([2; 12]);
    assert_eq!(compare(&Bson::ObjectId(a), &Bson::ObjectId(b)), Less);
}

#[test]
fn identical_is_stricter_than_equal() {
    assert!(!identical(&Bson::Int32(1), &Bson::Double(1.0)));
    assert!(!identical(&Bson::Double(0.0), &Bson::Double(-0.0)));
    assert!(identical(&Bson::Double(f64::NAN), &Bson::Double(f64::NAN)));
    assert!(!identical(
        &bson!({"a": 1, "b": 1}),
        &bson!({"b": 1, "a": 1})
    ));
    assert!(identical(
        &bson!({"a": [1, {"b": "x"}]}),
        &bson!({"a": [1, {"b": "x"}]})
    ));
}

#[test]
fn sorting_with_compare_is_total() {
    let mut values = one_of_each_bracket();
    values.extend([
        Bson::Double(f64::NAN),
        Bson::Double(-0.0),
        Bson::Int64(i64::MAX),
        Bson::Int64(i64::MIN),
        dec("1E+400"),
        bson!(""),
        bson!("ünïcødé"),
        bson!([[1, [2]], []]),
        Bson::Undefined,
    ]);
    let mut forward = values.clone();
    forward.sort_by(compare);
    let mut backward: Vec<Bson> = values.into_iter().rev().collect();
    backward.sort_by(compare);
    let orders: Vec<Ordering> = forward
        .windows(2)
        .map(|pair| compare(&pair[0], &pair[1]))
        .collect();
    assert!(orders.iter().all(|order| *order != Greater));
    for (a, b) in forward.iter().zip(&backward) {
        assert!(equal(a, b), "{a} vs {b}");
    }
}
