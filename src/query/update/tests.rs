use bson::{bson, doc, oid::ObjectId, Bson, Document, Regex};

use super::*;
use crate::query::filter::Filter;

fn parse(spec: Document) -> Update {
    Update::parse(&spec).unwrap_or_else(|err| panic!("{spec} should parse: {err}"))
}

fn parse_err(spec: Document) -> QueryError {
    match Update::parse(&spec) {
        Ok(_) => panic!("{spec} should be rejected"),
        Err(err) => err,
    }
}

/// Applies `spec` to `doc`, returning the new document and whether it changed.
fn run(spec: Document, doc: Document) -> (Document, bool) {
    let mut doc = doc;
    let changed = parse(spec.clone())
        .apply(&mut doc, false)
        .unwrap_or_else(|err| panic!("{spec} should apply: {err}"));
    (doc, changed)
}

fn updated(spec: Document, doc: Document) -> Document {
    run(spec, doc).0
}

fn apply_err(spec: Document, doc: Document) -> QueryError {
    let mut copy = doc.clone();
    let err = parse(spec.clone())
        .apply(&mut copy, false)
        .expect_err("update should fail");
    assert_eq!(copy, doc, "a failed update leaves the document untouched");
    err
}

// --- parsing -------------------------------------------------------------------------------------

#[test]
fn replacement_or_operators() {
    assert!(matches!(parse(doc! {}), Update::Replacement(d) if d.is_empty()));
    assert!(matches!(parse(doc! {"a": 1}), Update::Replacement(_)));
    assert!(matches!(
        parse(doc! {"$set": {"a": 1}}),
        Update::Operators(_)
    ));
    let e = parse_err(doc! {"a": 1, "$set": {"b": 1}});
    assert_eq!((e.code, e.code_name), (52, "DollarPrefixedFieldName"));
    let e = parse_err(doc! {"$set": {"a": 1}, "b": 2});
    assert_eq!((e.code, e.code_name), (9, "FailedToParse"));
    assert!(e.message.starts_with("Unknown modifier: b."));
    assert_eq!(parse_err(doc! {"$foo": {"a": 1}}).code, 9);
    assert_eq!(parse_err(doc! {"$set": 1}).code, 9);
    // Keys inside replacement values are data.
    assert!(Update::parse(&doc! {"a": {"$b": 1, "c.d": 2}}).is_ok());
}

#[test]
fn path_validation() {
    assert_eq!(parse_err(doc! {"$set": {"": 1}}).code, 56);
    assert_eq!(parse_err(doc! {"$set": {"a..b": 1}}).code, 56);
    assert_eq!(parse_err(doc! {"$set": {"$x": 1}}).code, 52);
    for path in ["a.$", "a.$[]", "a.$[elem].b"] {
        let e = parse_err(doc! {"$set": {path: 1}});
        assert_eq!(e.code, 2);
        assert!(
            e.message.contains("not supported by redhive"),
            "{}",
            e.message
        );
    }
    assert!(parse_err(doc! {"$bit": {"a": {"and": 1}}})
        .message
        .contains("not supported by redhive"));
}

#[test]
fn conflicting_paths() {
    for spec in [
        doc! {"$set": {"a": 1}, "$inc": {"a": 1}},
        doc! {"$set": {"a": 1, "a.b": 1}},
        doc! {"$set": {"a.b.c": 1}, "$unset": {"a.b": 1}},
        doc! {"$setOnInsert": {"a": 1}, "$set": {"a": 2}},
        doc! {"$rename": {"a": "b"}, "$set": {"b": 1}},
        doc! {"$rename": {"a": "b"}, "$set": {"a.x": 1}},
    ] {
        let e = parse_err(spec.clone());
        assert_eq!(
            (e.code, e.code_name),
            (40, "ConflictingUpdateOperators"),
            "{spec}"
        );
    }
    assert!(Update::parse(&doc! {"$set": {"a.b": 1, "a.c": 1, "ab": 1}}).is_ok());
    assert_eq!(
        parse_err(doc! {"$set": {"a": 1}, "$inc": {"a": 1}}).message,
        "Updating the path 'a' would create a conflict at 'a'"
    );
}

// --- replacement ---------------------------------------------------------------------------------

#[test]
fn replacement_keeps_id_first() {
    let (doc, changed) = run(doc! {"b": 2, "c": 3}, doc! {"_id": 1, "a": 1});
    assert_eq!(doc, doc! {"_id": 1, "b": 2, "c": 3});
    assert!(changed);
    assert_eq!(
        updated(doc! {"b": 2, "_id": 1}, doc! {"_id": 1, "a": 1}),
        doc! {"_id": 1, "b": 2}
    );
    assert_eq!(updated(doc! {}, doc! {"_id": 1, "a": 1}), doc! {"_id": 1});
    let (_, changed) = run(doc! {"a": 1}, doc! {"_id": 1, "a": 1});
    assert!(!changed);
    let (_, changed) = run(doc! {"a": 1.0}, doc! {"_id": 1, "a": 1});
    assert!(changed);
}

#[test]
fn replacement_cannot_change_id() {
    let e = apply_err(doc! {"_id": 2, "a": 1}, doc! {"_id": 1});
    assert_eq!((e.code, e.code_name), (66, "ImmutableField"));
    // Equal but not identical (another type) is a change too.
    assert_eq!(apply_err(doc! {"_id": 1.0}, doc! {"_id": 1}).code, 66);
}

#[test]
fn replacement_on_upsert_insert() {
    let mut doc = doc! {"_id": "seed"};
    parse(doc! {"x": 1}).apply(&mut doc, true).expect("applies");
    assert_eq!(doc, doc! {"_id": "seed", "x": 1});
    let mut doc = doc! {};
    parse(doc! {"x": 1, "_id": 7})
        .apply(&mut doc, true)
        .expect("applies");
    assert_eq!(doc, doc! {"_id": 7, "x": 1});
}

// --- $set / $unset ---------------------------------------------------------------------------------

#[test]
fn set_fields() {
    assert_eq!(
        updated(doc! {"$set": {"a": 2}}, doc! {"_id": 1, "a": 1, "b": 1}),
        doc! {"_id": 1, "a": 2, "b": 1}
    );
    // New fields are appended in field-name order, whatever the update's order.
    assert_eq!(
        updated(
            doc! {"$set": {"z": 1, "m": 1, "b.y": 1, "b.x": 1}},
            doc! {"_id": 1}
        ),
        doc! {"_id": 1, "b": {"x": 1, "y": 1}, "m": 1, "z": 1}
    );
    assert_eq!(
        updated(doc! {"$set": {"a.b.c": 1}}, doc! {"_id": 1, "a": {"x": 0}}),
        doc! {"_id": 1, "a": {"x": 0, "b": {"c": 1}}}
    );
}

#[test]
fn set_stores_values_verbatim() {
    let value = bson!({"a.b": 1, "$weird": {"@x": "/y"}, "ключ": [1, {"$in": 2}]});
    assert_eq!(
        updated(doc! {"$set": {"v": value.clone()}}, doc! {"_id": 1}),
        doc! {"_id": 1, "v": value}
    );
}

#[test]
fn set_equal_value_is_unchanged() {
    let (_, changed) = run(doc! {"$set": {"a": 1}}, doc! {"_id": 1, "a": 1});
    assert!(!changed);
    let (_, changed) = run(
        doc! {"$set": {"a": {"x": [1]}}},
        doc! {"_id": 1, "a": {"x": [1]}},
    );
    assert!(!changed);
    // MongoDB compares bytes: another numeric type is a modification.
    let (doc, changed) = run(doc! {"$set": {"a": 1.0}}, doc! {"_id": 1, "a": 1});
    assert!(changed);
    assert_eq!(doc, doc! {"_id": 1, "a": 1.0});
    let (_, changed) = run(
        doc! {"$set": {"a": {"y": 1, "x": 1}}},
        doc! {"a": {"x": 1, "y": 1}},
    );
    assert!(changed);
}

#[test]
fn set_with_array_indexes() {
    assert_eq!(
        updated(doc! {"$set": {"a.1": "x"}}, doc! {"a": [1, 2, 3]}),
        doc! {"a": [1, "x", 3]}
    );
    assert_eq!(
        updated(doc! {"$set": {"a.4": "x"}}, doc! {"a": [1]}),
        doc! {"a": [1, null, null, null, "x"]}
    );
    assert_eq!(
        updated(doc! {"$set": {"a.0.b": 5}}, doc! {"a": [{"b": 1, "c": 1}]}),
        doc! {"a": [{"b": 5, "c": 1}]}
    );
    // A numeric component on a document (or a new path) is a field name.
    assert_eq!(
        updated(doc! {"$set": {"a.0": 1}}, doc! {"a": {}}),
        doc! {"a": {"0": 1}}
    );
    assert_eq!(
        updated(doc! {"$set": {"n.0": 1}}, doc! {}),
        doc! {"n": {"0": 1}}
    );
}

#[test]
fn set_through_scalars_or_arrays_fails() {
    let e = apply_err(doc! {"$set": {"a.b": 1}}, doc! {"_id": 1, "a": 5});
    assert_eq!((e.code, e.code_name), (28, "PathNotViable"));
    assert_eq!(
        apply_err(doc! {"$set": {"a.b": 1}}, doc! {"a": [{"b": 1}]}).code,
        28
    );
    assert_eq!(
        apply_err(doc! {"$set": {"a.0.b": 1}}, doc! {"a": [null]}).code,
        28
    );
}

#[test]
fn unset_fields() {
    let (doc, changed) = run(
        doc! {"$unset": {"b": "", "c.d": 1, "missing": 1, "l.1": 1}},
        doc! {"_id": 1, "b": 1, "c": {"d": 1, "e": 2}, "l": [1, 2, 3]},
    );
    assert_eq!(doc, doc! {"_id": 1, "c": {"e": 2}, "l": [1, null, 3]});
    assert!(changed);
    let (_, changed) = run(
        doc! {"$unset": {"zz": 1, "a.b": 1}},
        doc! {"_id": 1, "a": 5},
    );
    assert!(!changed);
}

// --- _id ----------------------------------------------------------------------------------------------

#[test]
fn id_is_immutable() {
    let message = "Performing an update on the path '_id' would modify the immutable field '_id'";
    for spec in [
        doc! {"$set": {"_id": 2}},
        doc! {"$unset": {"_id": 1}},
        doc! {"$inc": {"_id": 1}},
        doc! {"$rename": {"_id": "x"}},
        doc! {"$set": {"_id": 1.0}},
    ] {
        let e = apply_err(spec.clone(), doc! {"_id": 1, "x": 0});
        assert_eq!((e.code, e.code_name), (66, "ImmutableField"), "{spec}");
        assert_eq!(e.message, message);
    }
    let (_, changed) = run(doc! {"$set": {"_id": 1}}, doc! {"_id": 1});
    assert!(!changed);
    assert_eq!(
        apply_err(doc! {"$set": {"_id.x": 1}}, doc! {"_id": {"y": 1}}).code,
        66
    );
}

#[test]
fn id_cannot_become_an_array() {
    let mut doc = doc! {};
    let e = parse(doc! {"$set": {"_id": [1]}})
        .apply(&mut doc, true)
        .expect_err("array _id");
    assert_eq!(e.code, 53);
}

// --- $inc / $mul ---------------------------------------------------------------------------------------

#[test]
fn inc_number_types() {
    assert_eq!(
        updated(doc! {"$inc": {"n": 2}}, doc! {"n": 1}),
        doc! {"n": 3}
    );
    assert_eq!(
        updated(doc! {"$inc": {"n": 1}}, doc! {"n": i32::MAX}),
        doc! {"n": Bson::Int64(i64::from(i32::MAX) + 1)}
    );
    assert_eq!(
        updated(doc! {"$inc": {"n": Bson::Int64(1)}}, doc! {"n": 1}),
        doc! {"n": Bson::Int64(2)}
    );
    assert_eq!(
        updated(doc! {"$inc": {"n": 0.5}}, doc! {"n": 1}),
        doc! {"n": 1.5}
    );
    assert_eq!(
        updated(doc! {"$inc": {"n": 1}}, doc! {"n": 1.5}),
        doc! {"n": 2.5}
    );
    assert_eq!(updated(doc! {"$inc": {"n": -3}}, doc! {}), doc! {"n": -3});
    assert_eq!(
        updated(doc! {"$inc": {"a.b": Bson::Int64(5)}}, doc! {}),
        doc! {"a": {"b": Bson::Int64(5)}}
    );
    let (_, changed) = run(doc! {"$inc": {"n": 0}}, doc! {"n": 7});
    assert!(!changed);
    let e = apply_err(
        doc! {"$inc": {"n": 1}},
        doc! {"_id": 1, "n": Bson::Int64(i64::MAX)},
    );
    assert_eq!(e.code, 2);
}

#[test]
fn inc_type_errors() {
    let e = apply_err(doc! {"$inc": {"n": 1}}, doc! {"_id": 1, "n": "x"});
    assert_eq!((e.code, e.code_name), (14, "TypeMismatch"));
    assert!(
        e.message.contains("non-numeric type string"),
        "{}",
        e.message
    );
    let e = parse_err(doc! {"$inc": {"n": "1"}});
    assert_eq!(e.code, 14);
    assert_eq!(
        e.message,
        "Cannot increment with non-numeric argument: {n: \"1\"}"
    );
    assert_eq!(parse_err(doc! {"$mul": {"n": null}}).code, 14);
    assert!(
        parse_err(doc! {"$inc": {"n": Bson::Decimal128("1".parse().expect("decimal"))}})
            .message
            .contains("not supported by redhive")
    );
}

#[test]
fn mul() {
    assert_eq!(
        updated(doc! {"$mul": {"n": 3}}, doc! {"n": 2}),
        doc! {"n": 6}
    );
    assert_eq!(
        updated(doc! {"$mul": {"n": 2.5}}, doc! {"n": 2}),
        doc! {"n": 5.0}
    );
    assert_eq!(updated(doc! {"$mul": {"n": 5}}, doc! {}), doc! {"n": 0});
    assert_eq!(
        updated(doc! {"$mul": {"n": Bson::Int64(5)}}, doc! {}),
        doc! {"n": Bson::Int64(0)}
    );
    assert_eq!(updated(doc! {"$mul": {"n": 1.5}}, doc! {}), doc! {"n": 0.0});
    assert_eq!(
        updated(doc! {"$mul": {"n": 2}}, doc! {"n": i32::MAX}),
        doc! {"n": Bson::Int64(i64::from(i32::MAX) * 2)}
    );
    assert_eq!(apply_err(doc! {"$mul": {"n": 2}}, doc! {"n": [1]}).code, 14);
}

// --- $min / $max ----------------------------------------------------------------------------------------

#[test]
fn min_max() {
    assert_eq!(
        updated(doc! {"$min": {"n": 1}}, doc! {"n": 5}),
        doc! {"n": 1}
    );
    assert_eq!(
        updated(doc! {"$min": {"n": 9}}, doc! {"n": 5}),
        doc! {"n": 5}
    );
    assert_eq!(
        updated(doc! {"$max": {"n": 9}}, doc! {"n": 5}),
        doc! {"n": 9}
    );
    assert_eq!(updated(doc! {"$max": {"n": 9}}, doc! {}), doc! {"n": 9});
    // BSON order across types: any string is above any number.
    assert_eq!(
        updated(doc! {"$max": {"n": "a"}}, doc! {"n": 5}),
        doc! {"n": "a"}
    );
    assert_eq!(
        updated(doc! {"$min": {"n": null}}, doc! {"n": 5}),
        doc! {"n": null}
    );
    let (doc, changed) = run(doc! {"$min": {"n": 5.0}}, doc! {"n": 5});
    assert!(!changed);
    assert_eq!(doc, doc! {"n": 5});
}

// --- $rename ------------------------------------------------------------------------------------------

#[test]
fn rename_fields() {
    assert_eq!(
        updated(
            doc! {"$rename": {"a": "c"}},
            doc! {"_id": 1, "a": 1, "b": 2}
        ),
        doc! {"_id": 1, "b": 2, "c": 1}
    );
    assert_eq!(
        updated(
            doc! {"$rename": {"a": "b"}},
            doc! {"_id": 1, "b": 2, "a": 1}
        ),
        doc! {"_id": 1, "b": 1}
    );
    assert_eq!(
        updated(
            doc! {"$rename": {"a.x": "c.y"}},
            doc! {"a": {"x": 1, "z": 2}}
        ),
        doc! {"a": {"z": 2}, "c": {"y": 1}}
    );
    let (_, changed) = run(doc! {"$rename": {"missing": "c"}}, doc! {"a": 1});
    assert!(!changed);
}

#[test]
fn rename_errors() {
    assert_eq!(parse_err(doc! {"$rename": {"a": 1}}).code, 2);
    assert_eq!(parse_err(doc! {"$rename": {"a": "a"}}).code, 2);
    assert_eq!(parse_err(doc! {"$rename": {"a": "a.b"}}).code, 2);
    assert_eq!(parse_err(doc! {"$rename": {"a.b": "a"}}).code, 2);
    assert_eq!(
        apply_err(doc! {"$rename": {"a.0": "b"}}, doc! {"a": [1]}).code,
        2
    );
    assert_eq!(
        apply_err(doc! {"$rename": {"a": "b.0"}}, doc! {"a": 1, "b": [1]}).code,
        2
    );
}

// --- $setOnInsert / $currentDate ------------------------------------------------------------------

#[test]
fn set_on_insert_only_on_insert() {
    let spec = doc! {"$setOnInsert": {"__v": 0}, "$set": {"flow": [{"id": "n1", "type": "tab"}]}};
    // Node-RED storage plugin: upsert into an empty seed document.
    let mut doc = doc! {};
    let changed = parse(spec.clone()).apply(&mut doc, true).expect("applies");
    assert!(changed);
    assert_eq!(doc, doc! {"__v": 0, "flow": [{"id": "n1", "type": "tab"}]});
    // The same update on an existing document leaves __v alone.
    let mut existing = doc! {"_id": 1, "appname": "r1", "__v": 3, "flow": []};
    parse(spec).apply(&mut existing, false).expect("applies");
    assert_eq!(
        existing,
        doc! {"_id": 1, "appname": "r1", "__v": 3, "flow": [{"id": "n1", "type": "tab"}]}
    );
}

#[test]
fn upsert_from_filter_seed() {
    let filter = Filter::parse(&doc! {"appname": "r1", "name": "/x"}).expect("filter");
    let mut doc = filter.upsert_seed().expect("seed");
    doc.insert("_id", ObjectId::from_bytes([1; 12]));
    let spec = doc! {"$setOnInsert": {"__v": 0}, "$set": {"body": "{}"}};
    parse(spec).apply(&mut doc, true).expect("applies");
    assert_eq!(
        doc,
        doc! {
            "_id": ObjectId::from_bytes([1; 12]),
            "appname": "r1",
            "name": "/x",
            "__v": 0,
            "body": "{}",
        }
    );
}

#[test]
fn current_date() {
    let doc = updated(
        doc! {"$currentDate": {"a": true, "b": {"$type": "timestamp"}, "c": {"$type": "date"}}},
        doc! {},
    );
    assert!(matches!(doc.get("a"), Some(Bson::DateTime(_))));
    assert!(matches!(doc.get("b"), Some(Bson::Timestamp(_))));
    assert!(matches!(doc.get("c"), Some(Bson::DateTime(_))));
    assert_eq!(parse_err(doc! {"$currentDate": {"a": 1}}).code, 2);
    assert_eq!(
        parse_err(doc! {"$currentDate": {"a": {"$type": "x"}}}).code,
        2
    );
}

// --- arrays --------------------------------------------------------------------------------------

#[test]
fn push() {
    assert_eq!(
        updated(doc! {"$push": {"a": 3}}, doc! {"a": [1, 2]}),
        doc! {"a": [1, 2, 3]}
    );
    assert_eq!(
        updated(doc! {"$push": {"a": [3]}}, doc! {"a": [1]}),
        doc! {"a": [1, [3]]}
    );
    assert_eq!(updated(doc! {"$push": {"a": 1}}, doc! {}), doc! {"a": [1]});
    assert_eq!(
        updated(doc! {"$push": {"a": {"$each": [3, 4]}}}, doc! {"a": [1]}),
        doc! {"a": [1, 3, 4]}
    );
    assert_eq!(
        updated(
            doc! {"$push": {"a": {"$each": [9], "$position": 0}}},
            doc! {"a": [1, 2]}
        ),
        doc! {"a": [9, 1, 2]}
    );
    assert_eq!(
        updated(
            doc! {"$push": {"a": {"$each": [9], "$position": -1}}},
            doc! {"a": [1, 2]}
        ),
        doc! {"a": [1, 9, 2]}
    );
    assert_eq!(
        updated(
            doc! {"$push": {"a": {"$each": [9], "$position": 50}}},
            doc! {"a": [1]}
        ),
        doc! {"a": [1, 9]}
    );
    assert_eq!(
        updated(
            doc! {"$push": {"a": {"$each": [3, 1], "$sort": 1}}},
            doc! {"a": [2]}
        ),
        doc! {"a": [1, 2, 3]}
    );
    assert_eq!(
        updated(
            doc! {"$push": {"a": {"$each": [5], "$sort": -1, "$slice": 2}}},
            doc! {"a": [2, 9, 1]}
        ),
        doc! {"a": [9, 5]}
    );
    assert_eq!(
        updated(
            doc! {"$push": {"a": {"$each": [], "$slice": -2}}},
            doc! {"a": [1, 2, 3]}
        ),
        doc! {"a": [2, 3]}
    );
    assert_eq!(
        updated(
            doc! {"$push": {"a": {"$each": [4], "$slice": 0}}},
            doc! {"a": [1]}
        ),
        doc! {"a": []}
    );
    assert_eq!(
        updated(
            doc! {"$push": {"s": {"$each": [{"k": 2, "n": "b"}], "$sort": {"k": 1}}}},
            doc! {"s": [{"k": 3}, {"k": 1}]}
        ),
        doc! {"s": [{"k": 1}, {"k": 2, "n": "b"}, {"k": 3}]}
    );
    // Without $each, a document with $-keys is an ordinary value.
    assert_eq!(
        updated(doc! {"$push": {"a": {"$slice": 1}}}, doc! {"a": []}),
        doc! {"a": [{"$slice": 1}]}
    );
}

#[test]
fn push_errors() {
    assert_eq!(
        apply_err(doc! {"$push": {"a": 1}}, doc! {"_id": 1, "a": 5}).code,
        2
    );
    assert_eq!(parse_err(doc! {"$push": {"a": {"$each": 1}}}).code, 2);
    assert_eq!(
        parse_err(doc! {"$push": {"a": {"$each": [], "$slice": 1.5}}}).code,
        2
    );
    assert_eq!(
        parse_err(doc! {"$push": {"a": {"$each": [], "$position": "x"}}}).code,
        2
    );
    assert_eq!(
        parse_err(doc! {"$push": {"a": {"$each": [], "$sort": 2}}}).code,
        2
    );
    assert_eq!(
        parse_err(doc! {"$push": {"a": {"$each": [], "$sort": {}}}}).code,
        2
    );
    assert_eq!(
        parse_err(doc! {"$push": {"a": {"$each": [], "$bogus": 1}}}).code,
        2
    );
}

#[test]
fn add_to_set() {
    assert_eq!(
        updated(doc! {"$addToSet": {"a": 2}}, doc! {"a": [1, 2]}),
        doc! {"a": [1, 2]}
    );
    assert_eq!(
        updated(doc! {"$addToSet": {"a": 2.0}}, doc! {"a": [1, 2]}),
        doc! {"a": [1, 2]}
    );
    assert_eq!(
        updated(doc! {"$addToSet": {"a": 3}}, doc! {"a": [1]}),
        doc! {"a": [1, 3]}
    );
    assert_eq!(
        updated(doc! {"$addToSet": {"a": 3}}, doc! {}),
        doc! {"a": [3]}
    );
    assert_eq!(
        updated(
            doc! {"$addToSet": {"a": {"$each": [3, 1, 3, 4]}}},
            doc! {"a": [1]}
        ),
        doc! {"a": [1, 3, 4]}
    );
    assert_eq!(
        updated(doc! {"$addToSet": {"a": [1, 2]}}, doc! {"a": [1, 2]}),
        doc! {"a": [1, 2, [1, 2]]}
    );
    let (_, changed) = run(doc! {"$addToSet": {"a": "x"}}, doc! {"a": ["x"]});
    assert!(!changed);
    assert_eq!(
        apply_err(doc! {"$addToSet": {"a": 1}}, doc! {"a": 1}).code,
        2
    );
    assert_eq!(parse_err(doc! {"$addToSet": {"a": {"$each": 1}}}).code, 14);
    assert_eq!(
        parse_err(doc! {"$addToSet": {"a": {"$each": [], "x": 1}}}).code,
        2
    );
}

#[test]
fn pull() {
    assert_eq!(
        updated(doc! {"$pull": {"a": 2}}, doc! {"a": [1, 2, 3, 2.0]}),
        doc! {"a": [1, 3]}
    );
    assert_eq!(
        updated(
            doc! {"$pull": {"a": {"$gte": 6}}},
            doc! {"a": [3, 6, 9, "x"]}
        ),
        doc! {"a": [3, "x"]}
    );
    assert_eq!(
        updated(
            doc! {"$pull": {"a": {"$in": ["x", 3]}}},
            doc! {"a": [3, 6, "x"]}
        ),
        doc! {"a": [6]}
    );
    assert_eq!(
        updated(
            doc! {"$pull": {"a": Bson::RegularExpression(Regex { pattern: "^x".into(), options: String::new() })}},
            doc! {"a": ["xa", "ax"]}
        ),
        doc! {"a": ["ax"]}
    );
    // A query document matches document elements containing those fields.
    assert_eq!(
        updated(
            doc! {"$pull": {"results": {"score": 8, "item": "B"}}},
            doc! {"results": [{"item": "A", "score": 5}, {"item": "B", "score": 8, "x": 1}, 8]}
        ),
        doc! {"results": [{"item": "A", "score": 5}, 8]}
    );
    assert_eq!(
        updated(
            doc! {"$pull": {"a": {"b": {"$gt": 1}}}},
            doc! {"a": [{"b": 1}, {"b": 2}]}
        ),
        doc! {"a": [{"b": 1}]}
    );
    assert_eq!(
        updated(doc! {"$pull": {"a": [1, 2]}}, doc! {"a": [[1, 2], [2, 1]]}),
        doc! {"a": [[2, 1]]}
    );
    let (_, changed) = run(doc! {"$pull": {"a": 9}}, doc! {"a": [1]});
    assert!(!changed);
    let (_, changed) = run(doc! {"$pull": {"a": 9}}, doc! {});
    assert!(!changed);
    assert_eq!(apply_err(doc! {"$pull": {"a": 1}}, doc! {"a": 1}).code, 2);
    assert_eq!(parse_err(doc! {"$pull": {"a": {"$bogus": 1}}}).code, 2);
}

#[test]
fn pull_all_and_pop() {
    assert_eq!(
        updated(
            doc! {"$pullAll": {"a": [1, "x"]}},
            doc! {"a": [1, 2, "x", 1.0]}
        ),
        doc! {"a": [2]}
    );
    assert_eq!(parse_err(doc! {"$pullAll": {"a": 1}}).code, 2);
    assert_eq!(
        updated(doc! {"$pop": {"a": 1}}, doc! {"a": [1, 2, 3]}),
        doc! {"a": [1, 2]}
    );
    assert_eq!(
        updated(doc! {"$pop": {"a": -1}}, doc! {"a": [1, 2, 3]}),
        doc! {"a": [2, 3]}
    );
    let (_, changed) = run(doc! {"$pop": {"a": 1}}, doc! {"a": []});
    assert!(!changed);
    let (_, changed) = run(doc! {"$pop": {"a": 1}}, doc! {});
    assert!(!changed);
    assert_eq!(parse_err(doc! {"$pop": {"a": 2}}).code, 2);
    assert_eq!(parse_err(doc! {"$pop": {"a": "1"}}).code, 9);
    assert_eq!(apply_err(doc! {"$pop": {"a": 1}}, doc! {"a": 1}).code, 2);
}

#[test]
fn array_operators_at_indexes() {
    assert_eq!(
        updated(doc! {"$push": {"a.0.l": 1}}, doc! {"a": [{"l": []}]}),
        doc! {"a": [{"l": [1]}]}
    );
    assert_eq!(
        updated(doc! {"$inc": {"a.1": 10}}, doc! {"a": [1, 2]}),
        doc! {"a": [1, 12]}
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::query::filter::tests::properties::{document, value};

    fn operator() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "$set",
            "$unset",
            "$inc",
            "$mul",
            "$min",
            "$max",
            "$rename",
            "$setOnInsert",
            "$currentDate",
            "$push",
            "$addToSet",
            "$pull",
            "$pullAll",
            "$pop",
            "$bit",
            "$nope",
        ])
    }

    fn path() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "a", "a.b", "a.0", "a.1.b", "_id", "_id.x", "b", "a.$", "a..b", ""
            ])
            .prop_map(str::to_owned),
            "[ab0-2.$]{0,5}",
        ]
    }

    fn argument() -> impl Strategy<Value = Bson> {
        prop_oneof![
            value(),
            Just(bson!({"$each": [1, 2], "$slice": -1, "$sort": 1, "$position": 0})),
            Just(bson!({"$gt": 1})),
            Just(bson!({"$type": "timestamp"})),
            Just(bson!("b.c")),
            Just(bson!(-1)),
        ]
    }

    fn update() -> impl Strategy<Value = Document> {
        prop::collection::vec(
            (
                operator(),
                prop::collection::vec((path(), argument()), 0..3),
            ),
            0..3,
        )
        .prop_map(|ops| {
            ops.into_iter()
                .map(|(op, fields)| {
                    let fields: Document = fields.into_iter().collect();
                    (op.to_owned(), Bson::Document(fields))
                })
                .collect()
        })
    }

    fn target() -> impl Strategy<Value = Document> {
        prop_oneof![
            document(),
            Just(doc! {"_id": 1, "a": [1, {"b": 2}, [3]], "b": {"c": "x"}}),
            Just(doc! {"a": {"b": 1, "0": 2}, "b": 5}),
        ]
    }

    proptest! {
        #[test]
        fn parse_and_apply_never_panic(spec in prop_oneof![update(), document()], doc in target()) {
            if let Ok(update) = Update::parse(&spec) {
                for insert in [false, true] {
                    let mut changed_doc = doc.clone();
                    match update.apply(&mut changed_doc, insert) {
                        Ok(changed) => {
                            prop_assert_eq!(changed, !identical_documents(&doc, &changed_doc));
                        }
                        Err(_) => prop_assert!(identical_documents(&changed_doc, &doc)),
                    }
                }
            }
        }
    }
}
