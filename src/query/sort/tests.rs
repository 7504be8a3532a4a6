use std::str::FromStr;

use bson::{bson, doc, Bson, Decimal128, Document};

use super::*;

fn sorted(spec: Document, docs: Vec<Document>) -> Vec<Bson> {
    let spec = SortSpec::parse(&spec).expect("valid sort");
    let mut docs = docs;
    spec.sort(&mut docs);
    docs.into_iter()
        .map(|d| d.get("_id").cloned().unwrap_or(Bson::Null))
        .collect()
}

fn ids(values: &[i32]) -> Vec<Bson> {
    values.iter().map(|v| Bson::Int32(*v)).collect()
}

#[test]
fn parse_accepts_any_numeric_one() {
    for value in [
        bson!(1),
        bson!(-1),
        Bson::Int64(1),
        Bson::Double(-1.0),
        Bson::Decimal128(Decimal128::from_str("1").expect("decimal")),
    ] {
        assert!(
            SortSpec::parse(&doc! {"a": value.clone()}).is_ok(),
            "{value}"
        );
    }
    let code = |spec: Document| SortSpec::parse(&spec).map_err(|e| e.code).err();
    assert_eq!(code(doc! {"a": 2}), Some(15975));
    assert_eq!(code(doc! {"a": 0.5}), Some(15975));
    assert_eq!(code(doc! {"a": "asc"}), Some(15974));
    assert_eq!(code(doc! {"a": true}), Some(15974));
    assert_eq!(code(doc! {"": 1}), Some(40352));
    assert_eq!(code(doc! {"$a": 1}), Some(16410));
    let meta = SortSpec::parse(&doc! {"s": {"$meta": "textScore"}}).expect_err("meta");
    assert!(meta.message.contains("not supported by redhive"));
    let natural = SortSpec::parse(&doc! {"$natural": -1}).expect_err("natural");
    assert!(natural.message.contains("not supported by redhive"));
    assert!(SortSpec::parse(&doc! {}).expect("empty").is_empty());
}

#[test]
fn single_key_both_directions() {
    let docs = vec![
        doc! {"_id": 1, "a": 2},
        doc! {"_id": 2, "a": 1},
        doc! {"_id": 3, "a": 3},
    ];
    assert_eq!(sorted(doc! {"a": 1}, docs.clone()), ids(&[2, 1, 3]));
    assert_eq!(sorted(doc! {"a": -1}, docs), ids(&[3, 1, 2]));
}

#[test]
fn missing_sorts_as_null_and_ties_are_stable() {
    let docs = vec![
        doc! {"_id": 1, "a": 1},
        doc! {"_id": 2},
        doc! {"_id": 3, "a": null},
        doc! {"_id": 4, "a": Bson::MinKey},
        doc! {"_id": 5},
    ];
    assert_eq!(sorted(doc! {"a": 1}, docs.clone()), ids(&[4, 2, 3, 5, 1]));
    assert_eq!(sorted(doc! {"a": -1}, docs), ids(&[1, 2, 3, 5, 4]));
}

#[test]
fn mixed_types_follow_bracket_order() {
    let docs = vec![
        doc! {"_id": 1, "a": true},
        doc! {"_id": 2, "a": "s"},
        doc! {"_id": 3, "a": 10},
        doc! {"_id": 4, "a": {"x": 1}},
        doc! {"_id": 5, "a": 2.5},
        doc! {"_id": 6, "a": f64::NAN},
        doc! {"_id": 7, "a": Bson::Int64(i64::MAX)},
        doc! {"_id": 8, "a": ""},
        doc! {"_id": 9, "a": -0.0},
    ];
    assert_eq!(
        sorted(doc! {"a": 1}, docs.clone()),
        ids(&[6, 9, 5, 3, 7, 8, 2, 4, 1])
    );
    // The same order whatever the input order.
    let mut reversed = docs.clone();
    reversed.reverse();
    assert_eq!(
        sorted(doc! {"a": 1}, reversed),
        ids(&[6, 9, 5, 3, 7, 8, 2, 4, 1])
    );
    assert_eq!(
        sorted(doc! {"a": -1}, docs),
        ids(&[1, 4, 2, 8, 7, 3, 5, 9, 6])
    );
}

#[test]
fn arrays_use_min_ascending_and_max_descending() {
    let docs = vec![
        doc! {"_id": 1, "a": [1, 10]},
        doc! {"_id": 2, "a": 5},
        doc! {"_id": 3, "a": []},
        doc! {"_id": 4},
    ];
    assert_eq!(sorted(doc! {"a": 1}, docs.clone()), ids(&[3, 4, 1, 2]));
    assert_eq!(sorted(doc! {"a": -1}, docs), ids(&[1, 2, 4, 3]));
}

#[test]
fn multi_key_and_nested_paths() {
    let docs = vec![
        doc! {"_id": 1, "a": {"b": 1}, "c": 2},
        doc! {"_id": 2, "a": {"b": 1}, "c": 1},
        doc! {"_id": 3, "a": {"b": 0}, "c": 9},
        doc! {"_id": 4, "a": [{"b": 7}, {"b": -1}], "c": 0},
    ];
    assert_eq!(
        sorted(doc! {"a.b": 1, "c": 1}, docs.clone()),
        ids(&[4, 3, 2, 1])
    );
    assert_eq!(sorted(doc! {"a.b": -1, "c": -1}, docs), ids(&[4, 1, 2, 3]));
    let docs = vec![doc! {"_id": 1, "a": [3, 1]}, doc! {"_id": 2, "a": [2, 9]}];
    assert_eq!(sorted(doc! {"a.0": 1}, docs), ids(&[2, 1]));
}

#[test]
fn compare_is_deterministic_across_calls() {
    let spec = SortSpec::parse(&doc! {"b": 1, "a": -1}).expect("valid");
    let x = doc! {"a": 1, "b": 1};
    let y = doc! {"a": 2, "b": 1};
    for _ in 0..20 {
        assert_eq!(spec.compare(&x, &y), Ordering::Greater);
        assert_eq!(spec.compare(&y, &x), Ordering::Less);
        assert_eq!(spec.compare(&x, &x), Ordering::Equal);
    }
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::query::filter::tests::properties::{document, value};

    proptest! {
        #[test]
        fn parse_never_panics_and_sort_is_a_total_order(
            spec in document(),
            values in prop::collection::vec(value(), 0..8),
        ) {
            let _ = SortSpec::parse(&spec);
            let spec = SortSpec::parse(&doc! {"a": 1}).expect("valid");
            let mut docs: Vec<Document> = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| doc! {"_id": i64::try_from(i).unwrap_or(0), "a": v})
                .collect();
            spec.sort(&mut docs);
            for pair in docs.windows(2) {
                prop_assert_ne!(spec.compare(&pair[0], &pair[1]), Ordering::Greater);
            }
        }
    }
}
