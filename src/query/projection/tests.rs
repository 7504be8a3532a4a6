use bson::{bson, doc, oid::ObjectId, Bson, Document};

use super::*;

fn project(spec: Document, doc: Document) -> Document {
    Projection::parse(&spec)
        .unwrap_or_else(|err| panic!("{spec} should parse: {err}"))
        .apply(&doc)
}

fn err(spec: Document) -> QueryError {
    match Projection::parse(&spec) {
        Ok(_) => panic!("{spec} should be rejected"),
        Err(err) => err,
    }
}

fn user() -> Document {
    doc! {
        "permissions": "*",
        "_id": ObjectId::from_bytes([7; 12]),
        "appname": "r1",
        "username": "admin",
        "email": "a@b.c",
        "salt": "s",
        "hash": "h",
        "__v": 0,
    }
}

#[test]
fn empty_projection_returns_everything() {
    assert_eq!(project(doc! {}, user()), user());
}

#[test]
fn inclusion_keeps_source_order_and_id() {
    // passport-local-mongoose: {username: 1, permissions: 1}.
    assert_eq!(
        project(doc! {"username": 1, "permissions": 1}, user()),
        doc! {
            "permissions": "*",
            "_id": ObjectId::from_bytes([7; 12]),
            "username": "admin",
        }
    );
    assert_eq!(project(doc! {"x": 1}, doc! {"y": 1}), doc! {});
    assert_eq!(
        project(doc! {"_id": 1}, user()),
        doc! {"_id": ObjectId::from_bytes([7; 12])}
    );
}

#[test]
fn exclusion_drops_fields() {
    let mut expected = user();
    expected.remove("hash");
    expected.remove("salt");
    assert_eq!(project(doc! {"hash": 0, "salt": 0}, user()), expected);
    assert_eq!(
        project(doc! {"hash": false}, doc! {"hash": 1, "a": 2}),
        doc! {"a": 2}
    );
    assert_eq!(
        project(doc! {"_id": 0}, doc! {"_id": 1, "a": 2}),
        doc! {"a": 2}
    );
}

#[test]
fn id_can_be_excluded_from_inclusion() {
    assert_eq!(
        project(doc! {"x": 1, "_id": 0}, doc! {"_id": 1, "x": 2, "y": 3}),
        doc! {"x": 2}
    );
    assert_eq!(
        project(doc! {"_id": 1, "x": 0}, doc! {"_id": 1, "x": 2, "y": 3}),
        doc! {"_id": 1, "y": 3}
    );
}

#[test]
fn flag_values() {
    let d = doc! {"a": 1, "b": 2, "c": 3};
    assert_eq!(project(doc! {"a": true}, d.clone()), doc! {"a": 1});
    assert_eq!(project(doc! {"a": 5.5}, d.clone()), doc! {"a": 1});
    assert_eq!(
        project(doc! {"a": Bson::Int64(-1)}, d.clone()),
        doc! {"a": 1}
    );
    assert_eq!(project(doc! {"a": 0.0}, d.clone()), doc! {"b": 2, "c": 3});
    assert_eq!(
        project(doc! {"a": Bson::Int64(0)}, d),
        doc! {"b": 2, "c": 3}
    );
}

#[test]
fn mixing_is_an_error() {
    let e = err(doc! {"a": 1, "b": 0});
    assert_eq!((e.code, e.code_name), (31254, "Location31254"));
    assert_eq!(
        e.message,
        "Cannot do exclusion on field b in inclusion projection"
    );
    let e = err(doc! {"a": 0, "b": 1});
    assert_eq!(e.code, 31253);
    assert_eq!(err(doc! {"a": 0, "b": "$x"}).code, 31252);
}

#[test]
fn dotted_inclusion() {
    let d = doc! {"_id": 1, "a": {"b": 1, "c": 2}, "z": 0};
    assert_eq!(
        project(doc! {"a.b": 1}, d.clone()),
        doc! {"_id": 1, "a": {"b": 1}}
    );
    assert_eq!(
        project(doc! {"a": {"b": 1}}, d.clone()),
        doc! {"_id": 1, "a": {"b": 1}}
    );
    assert_eq!(
        project(doc! {"a.x": 1}, d.clone()),
        doc! {"_id": 1, "a": {}}
    );
    assert_eq!(project(doc! {"z.x": 1}, d), doc! {"_id": 1});
    // Through arrays of documents; scalars in the array are dropped.
    let d = doc! {"items": [{"k": 1, "v": 2}, 7, {"v": 3}, [{"k": 4, "v": 5}]]};
    assert_eq!(
        project(doc! {"items.k": 1, "_id": 0}, d),
        doc! {"items": [{"k": 1}, {}, [{"k": 4}]]}
    );
}

#[test]
fn dotted_exclusion() {
    let d = doc! {"a": {"b": 1, "c": 2}, "items": [{"k": 1, "v": 2}, 7]};
    assert_eq!(
        project(doc! {"a.b": 0, "items.k": 0}, d),
        doc! {"a": {"c": 2}, "items": [{"v": 2}, 7]}
    );
}

#[test]
fn path_collisions() {
    assert_eq!(err(doc! {"a": 1, "a.b": 1}).code, 31250);
    assert_eq!(err(doc! {"a.b": 1, "a": 1}).code, 31250);
    assert_eq!(err(doc! {"_id": 1, "_id.x": 1}).code, 31250);
}

#[test]
fn computed_fields() {
    let d = doc! {"_id": 1, "a": {"b": 5}, "c": 2};
    assert_eq!(
        project(doc! {"x": "$a.b", "c": 1}, d.clone()),
        doc! {"_id": 1, "c": 2, "x": 5}
    );
    assert_eq!(
        project(doc! {"x": {"$literal": 1}, "_id": 0}, d.clone()),
        doc! {"x": 1}
    );
    assert_eq!(
        project(doc! {"x": "text", "_id": 0}, d.clone()),
        doc! {"x": "text"}
    );
    assert_eq!(
        project(doc! {"x": "$missing", "_id": 0}, d.clone()),
        doc! {}
    );
    assert_eq!(
        project(doc! {"c.d": "$a.b", "_id": 0}, d),
        doc! {"c": {"d": 5}}
    );
}

#[test]
fn slice_operator() {
    let d = doc! {"_id": 1, "a": [1, 2, 3, 4], "b": "x"};
    assert_eq!(
        project(doc! {"a": {"$slice": 2}}, d.clone()),
        doc! {"_id": 1, "a": [1, 2], "b": "x"}
    );
    assert_eq!(
        project(doc! {"a": {"$slice": -1}}, d.clone()),
        doc! {"_id": 1, "a": [4], "b": "x"}
    );
    assert_eq!(
        project(doc! {"a": {"$slice": [1, 2]}, "_id": 0, "b": 0}, d.clone()),
        doc! {"a": [2, 3]}
    );
    assert_eq!(
        project(doc! {"a": {"$slice": [-2, 5]}, "b": 1}, d.clone()),
        doc! {"_id": 1, "a": [3, 4], "b": "x"}
    );
    assert_eq!(project(doc! {"b": {"$slice": 1}}, d.clone()), d.clone());
    assert_eq!(project(doc! {"a": {"$slice": 10}}, d.clone()), d.clone());
    assert_eq!(
        project(doc! {"a": {"$slice": -10}, "_id": 0, "b": 0}, d),
        doc! {"a": [1, 2, 3, 4]}
    );
    assert_eq!(err(doc! {"a": {"$slice": [1, 0]}}).code, 2);
    assert_eq!(err(doc! {"a": {"$slice": "x"}}).code, 2);
    assert_eq!(err(doc! {"a": {"$slice": [1]}}).code, 2);
}

#[test]
fn elem_match_operator() {
    let d = doc! {"_id": 1, "zip": "x", "students": [{"s": 1, "n": "a"}, {"s": 2, "n": "b"}, {"s": 2, "n": "c"}]};
    assert_eq!(
        project(doc! {"students": {"$elemMatch": {"s": 2}}}, d.clone()),
        doc! {"_id": 1, "students": [{"s": 2, "n": "b"}]}
    );
    assert_eq!(
        project(doc! {"students": {"$elemMatch": {"s": 9}}}, d.clone()),
        doc! {"_id": 1}
    );
    assert_eq!(
        project(
            doc! {"v": {"$elemMatch": {"$gt": 2}}, "_id": 0},
            doc! {"v": [1, 5, 7]}
        ),
        doc! {"v": [5]}
    );
    assert_eq!(err(doc! {"a.b": {"$elemMatch": {"x": 1}}}).code, 2);
    assert_eq!(
        err(doc! {"a": 0, "b": {"$elemMatch": {"x": 1}}}).code,
        31253
    );
}

#[test]
fn refused_and_invalid() {
    for spec in [
        doc! {"a.$": 1},
        doc! {"score": {"$meta": "textScore"}},
        doc! {"x": {"$add": [1, 2]}},
    ] {
        let e = err(spec);
        assert!(
            e.message.contains("not supported by redhive"),
            "{}",
            e.message
        );
    }
    assert_eq!(err(doc! {"a": {}}).code, 51270);
    assert_eq!(err(doc! {"$a": 1}).code, 16410);
    assert_eq!(err(doc! {"": 1}).code, 15998);
    assert_eq!(err(doc! {"a..b": 1}).code, 15998);
}

#[test]
fn stage_dialect() {
    assert_eq!(
        Projection::parse_stage(&doc! {}).map_err(|e| e.code).err(),
        Some(51272)
    );
    let stage = Projection::parse_stage(&doc! {"a": 1}).expect("valid");
    assert_eq!(
        stage.apply(&doc! {"_id": 1, "a": 2, "b": 3}),
        doc! {"_id": 1, "a": 2}
    );
    // In $project, $slice is an expression operator, which redhive does not evaluate.
    assert!(Projection::parse_stage(&doc! {"a": {"$slice": ["$a", 1]}}).is_err());
    let unset = Projection::exclusion(&["a", "b.c"]).expect("valid");
    assert_eq!(
        unset.apply(&doc! {"_id": 1, "a": 1, "b": {"c": 1, "d": 2}}),
        doc! {"_id": 1, "b": {"d": 2}}
    );
    let _ = bson!(1);
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::query::filter::tests::properties::{document, value};

    proptest! {
        #[test]
        fn parse_and_apply_never_panic(spec in document(), doc in document(), v in value()) {
            if let Ok(projection) = Projection::parse(&spec) {
                let _ = projection.apply(&doc);
                let mut with_value = doc.clone();
                with_value.insert("a", v);
                let _ = projection.apply(&with_value);
            }
            let _ = Projection::parse_stage(&spec);
        }
    }
}
