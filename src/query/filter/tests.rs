use std::str::FromStr;

use bson::{bson, doc, oid::ObjectId, Bson, Decimal128, Document, Regex};

use super::*;

fn filter(spec: Document) -> Filter {
    Filter::parse(&spec).unwrap_or_else(|err| panic!("{spec} should parse: {err}"))
}

fn m(spec: Document, doc: Document) -> bool {
    filter(spec).matches(&doc)
}

fn err(spec: Document) -> QueryError {
    match Filter::parse(&spec) {
        Ok(_) => panic!("{spec} should be rejected"),
        Err(err) => err,
    }
}

fn regex(pattern: &str, options: &str) -> Bson {
    Bson::RegularExpression(Regex {
        pattern: pattern.into(),
        options: options.into(),
    })
}

fn dec(text: &str) -> Bson {
    Bson::Decimal128(Decimal128::from_str(text).expect("decimal literal"))
}

// --- implicit equality -------------------------------------------------------------------------

#[test]
fn empty_filter_matches_everything() {
    assert!(m(doc! {}, doc! {}));
    assert!(m(doc! {}, doc! {"a": 1}));
}

#[test]
fn equality_on_scalars() {
    assert!(m(doc! {"a": 1}, doc! {"a": 1}));
    assert!(m(doc! {"a": 1}, doc! {"a": 1.0}));
    assert!(m(doc! {"a": 1}, doc! {"a": Bson::Int64(1)}));
    assert!(m(doc! {"a": 1}, doc! {"a": dec("1.00")}));
    assert!(!m(doc! {"a": 1}, doc! {"a": "1"}));
    assert!(!m(doc! {"a": 1}, doc! {"a": true}));
    assert!(!m(doc! {"a": 1}, doc! {"b": 1}));
    assert!(m(doc! {"a": "x", "b": 2}, doc! {"b": 2, "a": "x"}));
    assert!(!m(doc! {"a": "x", "b": 2}, doc! {"a": "x", "b": 3}));
    assert!(m(doc! {"s": ""}, doc! {"s": ""}));
    assert!(m(doc! {"s": "ünï"}, doc! {"s": "ünï"}));
    assert!(m(doc! {"n": f64::NAN}, doc! {"n": f64::NAN}));
    assert!(m(doc! {"z": -0.0}, doc! {"z": 0}));
    assert!(m(doc! {"big": i64::MAX}, doc! {"big": i64::MAX}));
    assert!(!m(doc! {"big": i64::MAX}, doc! {"big": i64::MAX as f64}));
}

#[test]
fn equality_matches_array_elements_and_whole_arrays() {
    let d = doc! {"tags": ["a", "b"]};
    assert!(m(doc! {"tags": "a"}, d.clone()));
    assert!(m(doc! {"tags": "b"}, d.clone()));
    assert!(!m(doc! {"tags": "c"}, d.clone()));
    assert!(m(doc! {"tags": ["a", "b"]}, d.clone()));
    assert!(!m(doc! {"tags": ["b", "a"]}, d.clone()));
    assert!(!m(doc! {"tags": ["a"]}, d));
    // Nested arrays: an element that is an array matches as a whole, not its elements.
    let d = doc! {"a": [[1, 2], 3]};
    assert!(m(doc! {"a": [1, 2]}, d.clone()));
    assert!(m(doc! {"a": 3}, d.clone()));
    assert!(!m(doc! {"a": 1}, d));
    assert!(m(doc! {"a": []}, doc! {"a": []}));
    assert!(!m(doc! {"a": []}, doc! {"a": [1]}));
}

#[test]
fn subdocument_equality_is_exact() {
    let d = doc! {"a": {"x": 1, "y": 2}};
    assert!(m(doc! {"a": {"x": 1, "y": 2}}, d.clone()));
    assert!(m(doc! {"a": {"x": 1.0, "y": 2}}, d.clone()));
    assert!(!m(doc! {"a": {"y": 2, "x": 1}}, d.clone()));
    assert!(!m(doc! {"a": {"x": 1}}, d.clone()));
    assert!(!m(doc! {"a": {}}, d));
    assert!(m(doc! {"a": {}}, doc! {"a": {}}));
    // Keys inside a literal value are never operators or paths.
    assert!(m(doc! {"a": {"b.c": 1}}, doc! {"a": {"b.c": 1}}));
    assert!(m(
        doc! {"a": {"x": 1, "$gt": 2}},
        doc! {"a": {"x": 1, "$gt": 2}}
    ));
}

#[test]
fn null_matches_missing_and_null() {
    assert!(m(doc! {"x": null}, doc! {"x": null}));
    assert!(m(doc! {"x": null}, doc! {}));
    assert!(m(doc! {"x": null}, doc! {"x": Bson::Undefined}));
    assert!(!m(doc! {"x": null}, doc! {"x": 0}));
    assert!(!m(doc! {"x": null}, doc! {"x": []}));
    assert!(m(doc! {"x": null}, doc! {"x": [1, null]}));
    assert!(m(doc! {"x": {"$eq": null}}, doc! {}));
    assert!(m(doc! {"a.b": null}, doc! {"a": {"c": 1}}));
    assert!(m(doc! {"a.b": null}, doc! {"a": 5}));
    assert!(m(doc! {"a.b": null}, doc! {"a": [{"b": 1}, {"c": 1}]}));
    assert!(!m(doc! {"a.b": null}, doc! {"a": [{"b": 1}, {"b": 2}]}));
    // Scalars in an array the path continues through produce nothing, not "missing".
    assert!(!m(doc! {"a.b": null}, doc! {"a": [1, 2]}));
}

#[test]
fn exists_vs_null() {
    assert!(m(doc! {"x": {"$exists": true}}, doc! {"x": null}));
    assert!(!m(doc! {"x": {"$exists": true}}, doc! {}));
    assert!(m(doc! {"x": {"$exists": false}}, doc! {}));
    assert!(!m(doc! {"x": {"$exists": false}}, doc! {"x": null}));
    assert!(m(doc! {"x": {"$exists": 1}}, doc! {"x": 0}));
    assert!(m(doc! {"x": {"$exists": 0}}, doc! {"y": 0}));
    assert!(m(doc! {"x": {"$exists": true}}, doc! {"x": []}));
    assert!(m(
        doc! {"a.b": {"$exists": true}},
        doc! {"a": [{"c": 1}, {"b": 1}]}
    ));
    assert!(!m(
        doc! {"a.b": {"$exists": true}},
        doc! {"a": [1, {"c": 1}]}
    ));
    assert!(m(doc! {"a.b": {"$exists": false}}, doc! {"a": [1, 2]}));
}

// --- comparisons -------------------------------------------------------------------------------

#[test]
fn comparisons_respect_type_brackets() {
    assert!(m(doc! {"age": {"$lt": 100}}, doc! {"age": 30}));
    assert!(!m(doc! {"age": {"$lt": 100}}, doc! {"age": "30"}));
    assert!(!m(doc! {"age": {"$lt": 100}}, doc! {"age": null}));
    assert!(!m(doc! {"age": {"$lt": 100}}, doc! {}));
    assert!(!m(doc! {"age": {"$gt": 1}}, doc! {"age": "z"}));
    assert!(m(doc! {"s": {"$gt": "a"}}, doc! {"s": "b"}));
    assert!(!m(doc! {"s": {"$gt": "a"}}, doc! {"s": 5}));
    assert!(m(doc! {"n": {"$gte": 2, "$lte": 2}}, doc! {"n": 2.0}));
    assert!(m(doc! {"n": {"$gt": 1}}, doc! {"n": Bson::Int64(2)}));
    assert!(m(doc! {"n": {"$lt": 2.5}}, doc! {"n": 2}));
    assert!(m(doc! {"n": {"$gt": i64::MAX}}, doc! {"n": 9.3e18}));
    assert!(m(doc! {"n": {"$gt": dec("1.5")}}, doc! {"n": 2}));
    assert!(m(doc! {"d": {"$gt": {"a": 1}}}, doc! {"d": {"a": 2}}));
    assert!(!m(doc! {"d": {"$gt": {"a": 1}}}, doc! {"d": 5}));
}

#[test]
fn comparisons_on_arrays_any_element() {
    let d = doc! {"a": [1, 10]};
    assert!(m(doc! {"a": {"$gt": 5}}, d.clone()));
    assert!(m(doc! {"a": {"$lt": 5}}, d.clone()));
    // Each condition may be satisfied by a different element.
    assert!(m(doc! {"a": {"$gt": 5, "$lt": 5}}, d.clone()));
    assert!(!m(doc! {"a": {"$gt": 10}}, d.clone()));
    // The array itself takes part too: [1, 10] > [1, 5].
    assert!(m(doc! {"a": {"$gt": [1, 5]}}, d));
}

#[test]
fn null_comparisons() {
    assert!(m(doc! {"x": {"$gte": null}}, doc! {}));
    assert!(m(doc! {"x": {"$lte": null}}, doc! {"x": null}));
    assert!(!m(doc! {"x": {"$gt": null}}, doc! {"x": null}));
    assert!(!m(doc! {"x": {"$lt": null}}, doc! {}));
    assert!(!m(doc! {"x": {"$gte": null}}, doc! {"x": 1}));
}

#[test]
fn minkey_maxkey_bound_everything() {
    assert!(m(doc! {"x": {"$lt": Bson::MaxKey}}, doc! {"x": "s"}));
    assert!(m(doc! {"x": {"$lt": Bson::MaxKey}}, doc! {}));
    assert!(!m(
        doc! {"x": {"$lt": Bson::MaxKey}},
        doc! {"x": Bson::MaxKey}
    ));
    assert!(m(
        doc! {"x": {"$lte": Bson::MaxKey}},
        doc! {"x": Bson::MaxKey}
    ));
    assert!(m(doc! {"x": {"$gt": Bson::MinKey}}, doc! {"x": null}));
    assert!(!m(
        doc! {"x": {"$gt": Bson::MinKey}},
        doc! {"x": Bson::MinKey}
    ));
    assert!(!m(doc! {"x": {"$gt": Bson::MaxKey}}, doc! {"x": 1}));
    assert!(!m(doc! {"x": {"$eq": Bson::MinKey}}, doc! {"x": 1}));
}

#[test]
fn nan_comparisons() {
    let nan = doc! {"x": f64::NAN};
    assert!(!m(doc! {"x": {"$gt": 0}}, nan.clone()));
    assert!(!m(doc! {"x": {"$lt": 0}}, nan.clone()));
    assert!(m(doc! {"x": {"$gte": f64::NAN}}, nan.clone()));
    assert!(m(doc! {"x": {"$lte": f64::NAN}}, nan.clone()));
    assert!(!m(doc! {"x": {"$lt": f64::NAN}}, nan.clone()));
    assert!(m(doc! {"x": f64::NAN}, nan));
    assert!(!m(doc! {"x": {"$gt": f64::NAN}}, doc! {"x": 5}));
    assert!(!m(
        doc! {"x": {"$lt": f64::NAN}},
        doc! {"x": f64::NEG_INFINITY}
    ));
}

#[test]
fn ne_is_the_negation_of_eq() {
    assert!(m(doc! {"a": {"$ne": 1}}, doc! {"a": 2}));
    assert!(!m(doc! {"a": {"$ne": 1}}, doc! {"a": 1.0}));
    assert!(m(doc! {"a": {"$ne": 1}}, doc! {}));
    assert!(!m(doc! {"a": {"$ne": null}}, doc! {}));
    assert!(m(doc! {"a": {"$ne": null}}, doc! {"a": 0}));
    assert!(!m(doc! {"tags": {"$ne": "a"}}, doc! {"tags": ["a", "b"]}));
    assert!(m(doc! {"tags": {"$ne": "c"}}, doc! {"tags": ["a", "b"]}));
    assert!(!m(
        doc! {"tags": {"$ne": ["a", "b"]}},
        doc! {"tags": ["a", "b"]}
    ));
    assert!(m(
        doc! {"items.k": {"$ne": 1}},
        doc! {"items": [{"k": 0}, {"k": 2}]}
    ));
    assert!(!m(
        doc! {"items.k": {"$ne": 1}},
        doc! {"items": [{"k": 0}, {"k": 1}]}
    ));
}

// --- $in / $nin --------------------------------------------------------------------------------

#[test]
fn in_and_nin() {
    assert!(m(doc! {"a": {"$in": [1, 2]}}, doc! {"a": 2.0}));
    assert!(!m(doc! {"a": {"$in": [1, 2]}}, doc! {"a": 3}));
    assert!(!m(doc! {"a": {"$in": []}}, doc! {"a": 3}));
    assert!(m(doc! {"a": {"$in": [5, "x"]}}, doc! {"a": ["y", "x"]}));
    assert!(m(doc! {"a": {"$in": [[1, 2]]}}, doc! {"a": [1, 2]}));
    assert!(m(doc! {"a": {"$in": [null]}}, doc! {}));
    assert!(!m(doc! {"a": {"$in": [1]}}, doc! {}));
    assert!(m(doc! {"a": {"$nin": [1, 2]}}, doc! {"a": 3}));
    assert!(m(doc! {"a": {"$nin": [1, 2]}}, doc! {}));
    assert!(!m(doc! {"a": {"$nin": [1, 2]}}, doc! {"a": [3, 2]}));
    assert!(m(doc! {"a": {"$nin": []}}, doc! {"a": 1}));
    assert!(!m(doc! {"a": {"$nin": [null]}}, doc! {}));
}

#[test]
fn in_with_regexes() {
    let spec = doc! {"name": {"$in": [regex("^ab", ""), "zz"]}};
    assert!(m(spec.clone(), doc! {"name": "abc"}));
    assert!(m(spec.clone(), doc! {"name": "zz"}));
    assert!(m(spec.clone(), doc! {"name": ["q", "abx"]}));
    assert!(!m(spec.clone(), doc! {"name": "xab"}));
    assert!(!m(spec, doc! {"name": 1}));
    assert!(m(
        doc! {"name": {"$nin": [regex("^a", "i")]}},
        doc! {"name": "bA"}
    ));
    assert!(!m(
        doc! {"name": {"$nin": [regex("^a", "i")]}},
        doc! {"name": "Ab"}
    ));
}

// --- regular expressions -----------------------------------------------------------------------

#[test]
fn regex_literal_values() {
    // node-red-contrib-storage-mongodb's library listing: {name: /^\/demo\//}.
    let spec = doc! {"appname": "r1", "name": regex("^\\/demo\\/", "")};
    assert!(m(
        spec.clone(),
        doc! {"appname": "r1", "name": "/demo/a.json"}
    ));
    assert!(!m(spec.clone(), doc! {"appname": "r1", "name": "/demox"}));
    assert!(!m(
        spec.clone(),
        doc! {"appname": "r2", "name": "/demo/a.json"}
    ));
    assert!(!m(spec, doc! {"appname": "r1"}));
    assert!(m(
        doc! {"tags": regex("^b", "")},
        doc! {"tags": ["a", "bc"]}
    ));
    // A stored regular expression matches only an identical one.
    assert!(m(doc! {"r": regex("a", "")}, doc! {"r": regex("a", "")}));
    assert!(!m(doc! {"r": regex("a", "")}, doc! {"r": regex("a", "i")}));
    assert!(m(
        doc! {"r": {"$eq": regex("a", "")}},
        doc! {"r": regex("a", "")}
    ));
    assert!(!m(doc! {"r": {"$eq": regex("a", "")}}, doc! {"r": "a"}));
}

#[test]
fn regex_operator_and_options() {
    assert!(m(
        doc! {"n": {"$regex": "^AB", "$options": "i"}},
        doc! {"n": "abc"}
    ));
    assert!(m(
        doc! {"n": {"$options": "i", "$regex": "^AB"}},
        doc! {"n": "abc"}
    ));
    assert!(!m(doc! {"n": {"$regex": "^AB"}}, doc! {"n": "abc"}));
    assert!(m(
        doc! {"n": {"$regex": regex("^AB", "i")}},
        doc! {"n": "abc"}
    ));
    assert!(m(
        doc! {"n": {"$regex": regex("^AB", ""), "$options": "i"}},
        doc! {"n": "abc"}
    ));
    assert!(m(
        doc! {"n": {"$regex": "b$", "$options": "m"}},
        doc! {"n": "ab\ncd"}
    ));
    assert!(m(doc! {"n": {"$regex": ""}}, doc! {"n": ""}));
    assert!(!m(doc! {"n": {"$regex": "a"}}, doc! {}));
    assert!(m(
        doc! {"n": {"$regex": "^1"}},
        doc! {"n": Bson::Symbol("12".into())}
    ));
    assert!(!m(doc! {"n": {"$regex": "^1"}}, doc! {"n": 12}));
}

#[test]
fn regex_errors() {
    assert_eq!(
        err(doc! {"n": {"$options": "i"}}).message,
        "$options needs a $regex"
    );
    assert_eq!(
        err(doc! {"n": {"$regex": 5}}).message,
        "$regex has to be a string"
    );
    assert_eq!(err(doc! {"n": {"$regex": "a", "$options": 1}}).code, 2);
    assert_eq!(
        err(doc! {"n": {"$regex": regex("a", "i"), "$options": "m"}}).code,
        51075
    );
    assert_eq!(
        err(doc! {"n": {"$regex": "a", "$options": "q"}}).code,
        51108
    );
    assert!(err(doc! {"n": {"$regex": "(?=x)"}})
        .message
        .contains("not supported by redhive"));
    assert!(err(doc! {"n": regex("(a", "")}).message.contains("redhive"));
    assert_eq!(
        err(doc! {"n": {"$ne": regex("a", "")}}).message,
        "Can't have regex as arg to $ne."
    );
    assert_eq!(err(doc! {"n": {"$gt": regex("a", "")}}).code, 2);
}

// --- $not ---------------------------------------------------------------------------------------

#[test]
fn not_operator() {
    assert!(m(doc! {"a": {"$not": {"$gt": 5}}}, doc! {"a": 3}));
    assert!(m(doc! {"a": {"$not": {"$gt": 5}}}, doc! {}));
    assert!(m(doc! {"a": {"$not": {"$gt": 5}}}, doc! {"a": "x"}));
    assert!(!m(doc! {"a": {"$not": {"$gt": 5}}}, doc! {"a": 6}));
    assert!(!m(doc! {"a": {"$not": {"$gt": 5}}}, doc! {"a": [1, 6]}));
    assert!(m(doc! {"a": {"$not": {"$gt": 1, "$lt": 5}}}, doc! {"a": 7}));
    assert!(!m(
        doc! {"a": {"$not": {"$gt": 1, "$lt": 5}}},
        doc! {"a": 3}
    ));
    assert!(m(doc! {"a": {"$not": regex("^x", "")}}, doc! {"a": "yx"}));
    assert!(!m(doc! {"a": {"$not": regex("^x", "")}}, doc! {"a": "xy"}));
    assert!(m(doc! {"a": {"$not": {"$regex": "^x"}}}, doc! {"a": 1}));
    assert_eq!(
        err(doc! {"a": {"$not": {}}}).message,
        "$not cannot be empty"
    );
    assert_eq!(
        err(doc! {"a": {"$not": 5}}).message,
        "$not needs a regex or a document"
    );
    assert_eq!(
        err(doc! {"a": {"$not": {"b": 1}}}).message,
        "unknown operator: b"
    );
}

// --- logical operators ---------------------------------------------------------------------------

#[test]
fn and_or_nor() {
    let d = doc! {"a": 1, "b": 2};
    assert!(m(doc! {"$and": [{"a": 1}, {"b": 2}]}, d.clone()));
    assert!(!m(doc! {"$and": [{"a": 1}, {"b": 3}]}, d.clone()));
    assert!(m(doc! {"$or": [{"a": 5}, {"b": 2}]}, d.clone()));
    assert!(!m(doc! {"$or": [{"a": 5}, {"b": 5}]}, d.clone()));
    assert!(m(doc! {"$nor": [{"a": 5}, {"b": 5}]}, d.clone()));
    assert!(!m(doc! {"$nor": [{"a": 1}]}, d.clone()));
    assert!(m(
        doc! {"$or": [{"username": "admin"}]},
        doc! {"username": "admin"}
    ));
    assert!(m(
        doc! {"a": 1, "$or": [{"b": 2}, {"c": 3}], "$nor": [{"d": 4}]},
        d.clone()
    ));
    assert!(m(
        doc! {"$and": [{"$or": [{"a": 2}, {"a": 1}]}, {"$nor": [{"b": 1}]}]},
        d
    ));
}

#[test]
fn logical_operator_errors() {
    for op in ["$and", "$or", "$nor"] {
        assert_eq!(
            err(doc! {op: []}).message,
            "$and/$or/$nor must be a nonempty array"
        );
        assert_eq!(
            err(doc! {op: {"a": 1}}).message,
            format!("{op} must be an array")
        );
        assert_eq!(
            err(doc! {op: [1]}).message,
            "$or/$and/$nor entries need to be full objects"
        );
        assert_eq!(err(doc! {op: [{"a": {"$bogus": 1}}]}).code, 2);
    }
}

#[test]
fn comment_and_constants() {
    assert!(m(doc! {"$comment": "why", "a": 1}, doc! {"a": 1}));
    assert!(m(doc! {"$alwaysTrue": 1}, doc! {}));
    assert!(!m(doc! {"$alwaysFalse": 1}, doc! {}));
    assert_eq!(err(doc! {"$alwaysTrue": 2}).code, 9);
}

// --- dotted paths ----------------------------------------------------------------------------------

#[test]
fn dotted_paths_through_documents_and_arrays() {
    assert!(m(doc! {"items.k": 1}, doc! {"items": [{"k": 0}, {"k": 1}]}));
    assert!(!m(
        doc! {"items.k": 2},
        doc! {"items": [{"k": 0}, {"k": 1}]}
    ));
    assert!(m(doc! {"a.b.c": 1}, doc! {"a": {"b": {"c": 1}}}));
    assert!(m(doc! {"a.b.c": 1}, doc! {"a": [{"b": [{"c": [0, 1]}]}]}));
    assert!(!m(doc! {"a.b": 1}, doc! {"a": [[{"b": 1}]]}));
    assert!(m(
        doc! {"a.b": {"$gt": 5}},
        doc! {"a": [{"b": 1}, {"b": 9}]}
    ));
}

#[test]
fn numeric_path_components() {
    assert!(m(doc! {"a.0": 5}, doc! {"a": [5, 6]}));
    assert!(!m(doc! {"a.0": 6}, doc! {"a": [5, 6]}));
    assert!(m(doc! {"a.1.b": 2}, doc! {"a": [{"b": 1}, {"b": 2}]}));
    assert!(!m(doc! {"a.0.b": 2}, doc! {"a": [{"b": 1}, {"b": 2}]}));
    assert!(m(doc! {"a.0": 1}, doc! {"a": {"0": 1}}));
    assert!(m(doc! {"a.0": [1, 2]}, doc! {"a": [[1, 2]]}));
    assert!(!m(doc! {"a.0": 1}, doc! {"a": [[1, 2]]}));
    assert!(m(doc! {"a.0.0": 1}, doc! {"a": [[1, 2]]}));
    assert!(m(doc! {"a.5": {"$exists": false}}, doc! {"a": [1]}));
}

// --- $elemMatch ------------------------------------------------------------------------------------

#[test]
fn elem_match_query_form() {
    let d = doc! {"items": [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}]};
    assert!(m(
        doc! {"items": {"$elemMatch": {"k": 1, "v": "a"}}},
        d.clone()
    ));
    // Both conditions must hold for the same element.
    assert!(!m(
        doc! {"items": {"$elemMatch": {"k": 1, "v": "b"}}},
        d.clone()
    ));
    // Without $elemMatch they may hold for different elements.
    assert!(m(doc! {"items.k": 1, "items.v": "b"}, d.clone()));
    assert!(m(
        doc! {"items": {"$elemMatch": {"$or": [{"k": 5}, {"v": "b"}]}}},
        d.clone()
    ));
    assert!(m(doc! {"items": {"$elemMatch": {}}}, d));
    assert!(!m(
        doc! {"items": {"$elemMatch": {}}},
        doc! {"items": [1, 2]}
    ));
    assert!(!m(
        doc! {"items": {"$elemMatch": {"k": 1}}},
        doc! {"items": {"k": 1}}
    ));
    // Array elements count as documents with keys "0", "1", ….
    assert!(m(
        doc! {"a": {"$elemMatch": {"0": 1}}},
        doc! {"a": [[1, 2]]}
    ));
}

#[test]
fn elem_match_value_form() {
    let d = doc! {"a": [0, 6, 3]};
    assert!(m(
        doc! {"a": {"$elemMatch": {"$gt": 1, "$lt": 5}}},
        d.clone()
    ));
    assert!(!m(
        doc! {"a": {"$elemMatch": {"$gt": 3, "$lt": 6}}},
        d.clone()
    ));
    assert!(m(doc! {"a": {"$elemMatch": {"$in": [6, 7]}}}, d.clone()));
    assert!(m(doc! {"a": {"$elemMatch": {"$ne": 0}}}, d.clone()));
    assert!(m(doc! {"a": {"$elemMatch": {"$not": {"$gte": 1}}}}, d));
    assert!(!m(doc! {"a": {"$elemMatch": {"$gt": 1}}}, doc! {"a": 5}));
    assert!(!m(doc! {"a": {"$elemMatch": {"$gt": 1}}}, doc! {}));
    assert!(m(
        doc! {"a": {"$elemMatch": {"$regex": "^x"}}},
        doc! {"a": ["y", "xy"]}
    ));
    assert!(m(
        doc! {"a": {"$elemMatch": {"$size": 2}}},
        doc! {"a": [[1, 2]]}
    ));
    assert!(m(
        doc! {"a": {"$elemMatch": {"$eq": null}}},
        doc! {"a": [1, null]}
    ));
    // Nested arrays are not expanded inside the value form.
    assert!(!m(
        doc! {"a": {"$elemMatch": {"$eq": 1}}},
        doc! {"a": [[1]]}
    ));
    assert!(m(
        doc! {"a.b": {"$elemMatch": {"$gt": 5}}},
        doc! {"a": [{"b": [1]}, {"b": [7]}]}
    ));
    assert_eq!(
        err(doc! {"a": {"$elemMatch": 1}}).message,
        "$elemMatch needs an Object"
    );
}

// --- $size / $all / $type / $mod -------------------------------------------------------------

#[test]
fn size_operator() {
    assert!(m(doc! {"a": {"$size": 2}}, doc! {"a": [1, [2, 3]]}));
    assert!(!m(doc! {"a": {"$size": 3}}, doc! {"a": [1, [2, 3]]}));
    assert!(m(doc! {"a": {"$size": 0}}, doc! {"a": []}));
    assert!(!m(doc! {"a": {"$size": 0}}, doc! {}));
    assert!(!m(doc! {"a": {"$size": 1}}, doc! {"a": "x"}));
    assert!(m(doc! {"a": {"$size": Bson::Int64(1)}}, doc! {"a": [1]}));
    assert!(m(doc! {"a": {"$size": 1.0}}, doc! {"a": [1]}));
    assert!(m(
        doc! {"a.b": {"$size": 1}},
        doc! {"a": [{"b": [1]}, {"b": 2}]}
    ));
    assert!(m(doc! {"a": {"$not": {"$size": 1}}}, doc! {"a": [1, 2]}));
    assert_eq!(
        err(doc! {"a": {"$size": 1.5}}).message,
        "$size must be a whole number"
    );
    assert_eq!(
        err(doc! {"a": {"$size": -1}}).message,
        "$size may not be negative"
    );
    assert_eq!(
        err(doc! {"a": {"$size": "1"}}).message,
        "$size needs a number"
    );
    assert_eq!(err(doc! {"a": {"$size": i64::MAX}}).code, 2);
    assert_eq!(err(doc! {"a": {"$size": f64::NAN}}).code, 2);
}

#[test]
fn all_operator() {
    let d = doc! {"tags": ["a", "b", "c"]};
    assert!(m(doc! {"tags": {"$all": ["a", "c"]}}, d.clone()));
    assert!(!m(doc! {"tags": {"$all": ["a", "z"]}}, d.clone()));
    assert!(!m(doc! {"tags": {"$all": []}}, d.clone()));
    assert!(m(
        doc! {"tags": {"$all": [regex("^b", ""), "a"]}},
        d.clone()
    ));
    assert!(m(doc! {"tags": {"$all": ["a"]}}, doc! {"tags": "a"}));
    assert!(m(doc! {"tags": {"$all": [["a", "b", "c"]]}}, d));
    let items = doc! {"items": [{"k": 1, "v": 2}, {"k": 3}]};
    assert!(m(
        doc! {"items": {"$all": [{"$elemMatch": {"k": 1}}, {"$elemMatch": {"k": 3}}]}},
        items.clone()
    ));
    assert!(!m(
        doc! {"items": {"$all": [{"$elemMatch": {"k": 1}}, {"$elemMatch": {"k": 4}}]}},
        items
    ));
    assert_eq!(err(doc! {"a": {"$all": 1}}).message, "$all needs an array");
    assert_eq!(
        err(doc! {"a": {"$all": [{"$elemMatch": {"k": 1}}, 5]}}).message,
        "$all/$elemMatch has to be consistent"
    );
    assert_eq!(
        err(doc! {"a": {"$all": [{"$gt": 1}]}}).message,
        "no $ expressions in $all"
    );
}

#[test]
fn type_operator() {
    assert!(m(doc! {"a": {"$type": "string"}}, doc! {"a": "x"}));
    assert!(m(doc! {"a": {"$type": 2}}, doc! {"a": "x"}));
    assert!(!m(doc! {"a": {"$type": "string"}}, doc! {"a": 1}));
    assert!(m(
        doc! {"a": {"$type": "number"}},
        doc! {"a": Bson::Int64(1)}
    ));
    assert!(m(doc! {"a": {"$type": "number"}}, doc! {"a": dec("1")}));
    assert!(m(doc! {"a": {"$type": "array"}}, doc! {"a": []}));
    assert!(m(doc! {"a": {"$type": "array"}}, doc! {"a": [1]}));
    assert!(m(doc! {"a": {"$type": "int"}}, doc! {"a": ["x", 1]}));
    assert!(m(doc! {"a": {"$type": "null"}}, doc! {"a": null}));
    assert!(!m(doc! {"a": {"$type": "null"}}, doc! {}));
    assert!(m(doc! {"a": {"$type": ["bool", "date"]}}, doc! {"a": true}));
    assert!(m(
        doc! {"a": {"$type": "objectId"}},
        doc! {"a": ObjectId::new()}
    ));
    assert!(m(doc! {"a": {"$type": "object"}}, doc! {"a": {}}));
    assert!(m(doc! {"a": {"$type": -1}}, doc! {"a": Bson::MinKey}));
    assert!(m(doc! {"a": {"$type": "double"}}, doc! {"a": f64::NAN}));
    assert_eq!(err(doc! {"a": {"$type": "nope"}}).code, 2);
    assert_eq!(err(doc! {"a": {"$type": 42}}).code, 2);
}

#[test]
fn mod_operator() {
    assert!(m(doc! {"a": {"$mod": [4, 0]}}, doc! {"a": 8}));
    assert!(!m(doc! {"a": {"$mod": [4, 0]}}, doc! {"a": 9}));
    assert!(m(doc! {"a": {"$mod": [4, 1]}}, doc! {"a": 9.9}));
    assert!(m(doc! {"a": {"$mod": [4, -1]}}, doc! {"a": -9}));
    assert!(m(doc! {"a": {"$mod": [4.5, 1]}}, doc! {"a": 9}));
    assert!(!m(doc! {"a": {"$mod": [4, 0]}}, doc! {"a": "8"}));
    assert!(!m(doc! {"a": {"$mod": [4, 0]}}, doc! {"a": f64::NAN}));
    assert!(!m(doc! {"a": {"$mod": [4, 0]}}, doc! {"a": 1e300}));
    assert!(m(doc! {"a": {"$mod": [-1, 0]}}, doc! {"a": i64::MIN}));
    assert!(m(doc! {"a": {"$mod": [2, 1]}}, doc! {"a": [2, 3]}));
    assert!(m(doc! {"a": {"$mod": [10, 2]}}, doc! {"a": dec("12.7")}));
    assert_eq!(
        err(doc! {"a": {"$mod": [0, 1]}}).message,
        "divisor cannot be 0"
    );
    assert_eq!(
        err(doc! {"a": {"$mod": [1]}}).message,
        "malformed mod, not enough elements"
    );
    assert_eq!(
        err(doc! {"a": {"$mod": [1, 2, 3]}}).message,
        "malformed mod, too many elements"
    );
    assert_eq!(
        err(doc! {"a": {"$mod": ["1", 2]}}).message,
        "malformed mod, divisor not a number"
    );
    assert_eq!(
        err(doc! {"a": {"$mod": 4}}).message,
        "malformed mod, needs to be an array"
    );
    assert_eq!(err(doc! {"a": {"$mod": [f64::NAN, 1]}}).code, 2);
}

// --- errors ---------------------------------------------------------------------------------------

#[test]
fn unknown_operators() {
    let e = err(doc! {"a": {"$foo": 1}});
    assert_eq!((e.code, e.code_name), (2, "BadValue"));
    assert_eq!(e.message, "unknown operator: $foo");
    assert_eq!(
        err(doc! {"a": {"$gt": 1, "b": 2}}).message,
        "unknown operator: b"
    );
    assert_eq!(
        err(doc! {"$foo": 1}).message,
        "unknown top level operator: $foo"
    );
    assert_eq!(
        err(doc! {"a": {"$in": [{"$gt": 1}]}}).message,
        "cannot nest $ under $in"
    );
    assert_eq!(err(doc! {"a": {"$in": 1}}).message, "$in needs an array");
    assert_eq!(err(doc! {"a": {"$nin": 1}}).message, "$nin needs an array");
    assert_eq!(
        err(doc! {"a": Bson::Undefined}).message,
        "cannot compare to undefined"
    );
}

#[test]
fn unsupported_operators_are_refused() {
    for spec in [
        doc! {"$where": "this.a == 1"},
        doc! {"$expr": {"$eq": ["$a", 1]}},
        doc! {"$text": {"$search": "x"}},
        doc! {"$jsonSchema": {}},
        doc! {"loc": {"$near": [0, 0]}},
        doc! {"loc": {"$geoWithin": {}}},
        doc! {"a": {"$bitsAllSet": 1}},
        doc! {"a": {"$elemMatch": {"$where": "x"}}},
    ] {
        let e = err(spec.clone());
        assert_eq!(e.code, 2, "{spec}");
        assert!(e.message.contains("not supported by redhive") || e.message.contains("$where"));
    }
}

#[test]
fn dbref_documents_are_literals() {
    let d = doc! {"r": {"$ref": "c", "$id": 1}};
    assert!(m(doc! {"r": {"$ref": "c", "$id": 1}}, d.clone()));
    assert!(m(doc! {"r.$id": 1}, d));
}

// --- upsert seed and _id prefilter ---------------------------------------------------------------

fn seed(spec: Document) -> Result<Document, QueryError> {
    filter(spec).upsert_seed()
}

#[test]
fn upsert_seed_copies_equalities() {
    assert_eq!(
        seed(doc! {"appname": "r1", "name": "/x"}),
        Ok(doc! {"appname": "r1", "name": "/x"})
    );
    assert_eq!(
        seed(doc! {"$and": [{"a": 1}, {"b": {"$eq": 2}}]}),
        Ok(doc! {"a": 1, "b": 2})
    );
    assert_eq!(seed(doc! {"a": {"$gt": 1}}), Ok(doc! {}));
    assert_eq!(seed(doc! {}), Ok(doc! {}));
    assert_eq!(seed(doc! {"name": regex("^x", "")}), Ok(doc! {}));
    assert_eq!(seed(doc! {"a": {"$in": [1, 2]}}), Ok(doc! {}));
    assert_eq!(seed(doc! {"a": {"$in": [7]}}), Ok(doc! {"a": 7}));
    assert_eq!(seed(doc! {"$or": [{"a": 1}, {"b": 2}]}), Ok(doc! {}));
    assert_eq!(seed(doc! {"$or": [{"a": 1}]}), Ok(doc! {"a": 1}));
    assert_eq!(seed(doc! {"$nor": [{"a": 1}]}), Ok(doc! {}));
    assert_eq!(seed(doc! {"a": {"$ne": 1}}), Ok(doc! {}));
    assert_eq!(seed(doc! {"a": {"$elemMatch": {"b": 1}}}), Ok(doc! {}));
    assert_eq!(seed(doc! {"a": null}), Ok(doc! {"a": null}));
    assert_eq!(
        seed(doc! {"a": [1, {"b": 2}], "c": {"d": 1}}),
        Ok(doc! {"a": [1, {"b": 2}], "c": {"d": 1}})
    );
}

#[test]
fn upsert_seed_builds_nested_documents_in_path_order() {
    assert_eq!(
        seed(doc! {"z": 1, "a.c": 2, "_id": "k", "a.b": 3, "$and": [{"m.0": 4}]}),
        Ok(doc! {"_id": "k", "a": {"b": 3, "c": 2}, "m": {"0": 4}, "z": 1})
    );
}

#[test]
fn upsert_seed_rejects_ambiguous_paths() {
    let e = seed(doc! {"a": 1, "$and": [{"a": 2}]}).expect_err("matched twice");
    assert_eq!((e.code, e.code_name), (54, "NotSingleValueField"));
    let e = seed(doc! {"a": {"b": 1}, "a.b": 1}).expect_err("prefix");
    assert_eq!(e.code, 54);
}

#[test]
fn id_equality_pins_canonically_keyed_values() {
    let id = ObjectId::new();
    assert_eq!(
        filter(doc! {"_id": id}).id_equality(),
        Some(&Bson::ObjectId(id))
    );
    assert_eq!(
        filter(doc! {"_id": {"$eq": "k"}, "a": 1}).id_equality(),
        Some(&bson!("k"))
    );
    assert_eq!(
        filter(doc! {"$and": [{"_id": "k"}]}).id_equality(),
        Some(&bson!("k"))
    );
    assert_eq!(filter(doc! {"_id": {"$gt": "k"}}).id_equality(), None);
    assert_eq!(filter(doc! {"_id": regex("k", "")}).id_equality(), None);
    assert_eq!(filter(doc! {"_id": 1}).id_equality(), Some(&Bson::Int32(1)));
    assert_eq!(
        filter(doc! {"_id": bson::Decimal128::from_bytes([0; 16])}).id_equality(),
        None
    );
    assert_eq!(filter(doc! {"_id": {"a": 1}}).id_equality(), None);
    assert_eq!(
        filter(doc! {"$or": [{"_id": "a"}, {"_id": "b"}]}).id_equality(),
        None
    );
    assert_eq!(filter(doc! {"a": "k"}).id_equality(), None);
}

// --- robustness -----------------------------------------------------------------------------------

pub(crate) mod properties {
    use proptest::prelude::*;

    use super::*;

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_owned()),
            Just("b.c".to_owned()),
            Just("a.0".to_owned()),
            Just(String::new()),
            Just("$and".to_owned()),
            Just("$or".to_owned()),
            Just("$nor".to_owned()),
            Just("$not".to_owned()),
            Just("$gt".to_owned()),
            Just("$in".to_owned()),
            Just("$elemMatch".to_owned()),
            Just("$regex".to_owned()),
            Just("$options".to_owned()),
            Just("$size".to_owned()),
            Just("$all".to_owned()),
            Just("$type".to_owned()),
            Just("$mod".to_owned()),
            Just("$exists".to_owned()),
            Just("$where".to_owned()),
            "[a-z$.]{0,4}",
        ]
    }

    pub(crate) fn value() -> impl Strategy<Value = Bson> {
        let leaf = prop_oneof![
            Just(Bson::Null),
            Just(Bson::Undefined),
            Just(Bson::MinKey),
            Just(Bson::MaxKey),
            any::<bool>().prop_map(Bson::Boolean),
            any::<i32>().prop_map(Bson::Int32),
            any::<i64>().prop_map(Bson::Int64),
            prop_oneof![
                Just(f64::NAN),
                Just(-0.0),
                Just(f64::INFINITY),
                Just(1.5),
                any::<f64>()
            ]
            .prop_map(Bson::Double),
            "[a-z\\\\(\\[^$*+?{}.]{0,6}".prop_map(Bson::String),
            ("[a-z\\\\(\\[^$*+?{}.]{0,4}", "[imsxq]{0,2}").prop_map(|(pattern, options)| {
                Bson::RegularExpression(Regex { pattern, options })
            }),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Bson::Array),
                prop::collection::vec((key(), inner), 0..4)
                    .prop_map(|fields| Bson::Document(fields.into_iter().collect())),
            ]
        })
    }

    pub(crate) fn document() -> impl Strategy<Value = Document> {
        prop::collection::vec((key(), value()), 0..4)
            .prop_map(|fields| fields.into_iter().collect())
    }

    proptest! {
        #[test]
        fn parse_and_match_never_panic(spec in document(), doc in document()) {
            if let Ok(filter) = Filter::parse(&spec) {
                let _ = filter.matches(&doc);
                let _ = filter.upsert_seed();
                let _ = filter.id_equality();
            }
        }

        #[test]
        fn ne_is_not_eq(v in value(), doc in document()) {
            let eq = Filter::parse(&doc! {"a": {"$eq": v.clone()}});
            let ne = Filter::parse(&doc! {"a": {"$ne": v}});
            if let (Ok(eq), Ok(ne)) = (eq, ne) {
                prop_assert_ne!(eq.matches(&doc), ne.matches(&doc));
            }
        }
    }
}
