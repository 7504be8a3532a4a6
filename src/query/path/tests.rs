use bson::{bson, doc, Bson, Document};

use super::*;

fn values(doc: &Document, path: &str) -> Vec<Option<Bson>> {
    matcher_values(doc, path, LeafArrays::Expand)
        .into_iter()
        .map(|v| v.cloned())
        .collect()
}

fn kept(doc: &Document, path: &str) -> Vec<Option<Bson>> {
    matcher_values(doc, path, LeafArrays::Keep)
        .into_iter()
        .map(|v| v.cloned())
        .collect()
}

#[test]
fn plain_and_nested_fields() {
    let d = doc! {"a": 1, "b": {"c": {"d": "x"}}};
    assert_eq!(values(&d, "a"), vec![Some(bson!(1))]);
    assert_eq!(values(&d, "b.c.d"), vec![Some(bson!("x"))]);
    assert_eq!(values(&d, "b.c"), vec![Some(bson!({"d": "x"}))]);
    assert_eq!(values(&d, "missing"), vec![None]);
    assert_eq!(values(&d, "b.missing"), vec![None]);
    // A scalar in the middle of the path: the path does not exist.
    assert_eq!(values(&d, "a.b"), vec![None]);
}

#[test]
fn leaf_arrays_yield_elements_then_the_array() {
    let d = doc! {"tags": ["a", "b"]};
    assert_eq!(
        values(&d, "tags"),
        vec![Some(bson!("a")), Some(bson!("b")), Some(bson!(["a", "b"]))]
    );
    assert_eq!(kept(&d, "tags"), vec![Some(bson!(["a", "b"]))]);
    // Only one level: nested arrays stay whole.
    let d = doc! {"a": [[1, 2], 3]};
    assert_eq!(
        values(&d, "a"),
        vec![
            Some(bson!([1, 2])),
            Some(bson!(3)),
            Some(bson!([[1, 2], 3]))
        ]
    );
    let d = doc! {"a": []};
    assert_eq!(values(&d, "a"), vec![Some(bson!([]))]);
}

#[test]
fn paths_continue_into_documents_inside_arrays() {
    let d = doc! {"items": [{"k": 0}, {"k": 1}, {"j": 2}, 7, [{"k": 9}]]};
    // Documents contribute their value (or "missing"); scalars and nested arrays nothing.
    assert_eq!(
        values(&d, "items.k"),
        vec![Some(bson!(0)), Some(bson!(1)), None]
    );
    let d = doc! {"a": [1, 2]};
    assert_eq!(values(&d, "a.b"), Vec::<Option<Bson>>::new());
}

#[test]
fn arrays_inside_documents_inside_arrays() {
    let d = doc! {"a": [{"b": [1, 2]}, {"b": 3}]};
    assert_eq!(
        values(&d, "a.b"),
        vec![
            Some(bson!(1)),
            Some(bson!(2)),
            Some(bson!([1, 2])),
            Some(bson!(3))
        ]
    );
    assert_eq!(kept(&d, "a.b"), vec![Some(bson!([1, 2])), Some(bson!(3))]);
}

#[test]
fn numeric_steps_index_arrays() {
    let d = doc! {"a": [5, 6]};
    assert_eq!(values(&d, "a.1"), vec![Some(bson!(6))]);
    assert_eq!(values(&d, "a.2"), Vec::<Option<Bson>>::new());
    // "01" is not the canonical spelling of index 1.
    assert_eq!(values(&d, "a.01"), Vec::<Option<Bson>>::new());

    // Each element document is also asked for a field named "1" (missing), exactly as MongoDB's
    // iterator does; that is why `{"a.1.b": null}` matches this document in MongoDB.
    let d = doc! {"a": [{"b": 1}, {"b": 2}]};
    assert_eq!(values(&d, "a.1.b"), vec![None, None, Some(bson!(2))]);
    assert_eq!(values(&d, "a.0"), vec![None, Some(bson!({"b": 1})), None]);

    // An indexed element that is an array is not expanded when the path ends there.
    let d = doc! {"a": [[1, 2]]};
    assert_eq!(values(&d, "a.0"), vec![Some(bson!([1, 2]))]);
    // …but the path can continue through it.
    let d = doc! {"a": [[{"b": 1}, {"b": 2}]]};
    assert_eq!(values(&d, "a.0.b"), vec![Some(bson!(1)), Some(bson!(2))]);
}

#[test]
fn numeric_steps_also_name_fields() {
    // Element documents with a field "0" and the element at index 0 both count.
    let d = doc! {"a": [{"0": "field"}, "second"]};
    assert_eq!(
        values(&d, "a.0"),
        vec![Some(bson!("field")), Some(bson!({"0": "field"}))]
    );
    let d = doc! {"a": {"0": "x"}};
    assert_eq!(values(&d, "a.0"), vec![Some(bson!("x"))]);
}

#[test]
fn unicode_and_empty_names() {
    let d = doc! {"ключ": {"": "empty"}};
    assert_eq!(values(&d, "ключ."), vec![Some(bson!("empty"))]);
}

#[test]
fn distinct_expands_arrays() {
    let d = doc! {"a": [1, [2, 3], {"b": 4}], "n": {"m": [5, 6]}, "l": [{"k": 1}, {"k": [2]}, {"j": 0}, 7]};
    let owned = |values: Vec<&Bson>| values.into_iter().cloned().collect::<Vec<Bson>>();
    assert_eq!(
        owned(distinct_values(&d, "a")),
        vec![bson!(1), bson!([2, 3]), bson!({"b": 4})]
    );
    assert_eq!(owned(distinct_values(&d, "n.m")), vec![bson!(5), bson!(6)]);
    assert_eq!(owned(distinct_values(&d, "l.k")), vec![bson!(1), bson!(2)]);
    assert_eq!(owned(distinct_values(&d, "l.1.k")), vec![bson!(2)]);
    assert_eq!(owned(distinct_values(&d, "a.1")), vec![bson!(2), bson!(3)]);
    assert!(distinct_values(&d, "zz").is_empty());
    assert!(distinct_values(&d, "a.b.c").is_empty());
}

#[test]
fn lookup_collects_values_without_expanding_the_last_array() {
    let d = doc! {"a": [{"b": 1}, {"b": [2, 3]}, {"c": 4}, 5], "n": {"m": [6]}};
    let owned = |values: Vec<&Bson>| values.into_iter().cloned().collect::<Vec<Bson>>();
    assert_eq!(owned(lookup(&d, "a.b")), vec![bson!(1), bson!([2, 3])]);
    assert_eq!(owned(lookup(&d, "n.m")), vec![bson!([6])]);
    assert_eq!(owned(lookup(&d, "a.1.b")), vec![bson!([2, 3])]);
    assert_eq!(owned(lookup(&d, "n")), vec![bson!({"m": [6]})]);
    assert!(lookup(&d, "missing").is_empty());
    assert!(lookup(&d, "n.m.x").is_empty());
}
