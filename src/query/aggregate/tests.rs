use bson::{bson, doc, Bson, Document};

use super::*;

fn run(docs: Vec<Document>, pipeline: Vec<Document>) -> Vec<Document> {
    run_pipeline(docs, &pipeline).unwrap_or_else(|err| panic!("pipeline should run: {err}"))
}

fn err(pipeline: Vec<Document>) -> QueryError {
    run_pipeline(vec![doc! {"_id": 1}], &pipeline).expect_err("pipeline should fail")
}

fn people() -> Vec<Document> {
    vec![
        doc! {"_id": 1, "name": "ann", "team": "a", "age": 30, "tags": ["x", "y"]},
        doc! {"_id": 2, "name": "bob", "team": "b", "age": 25, "tags": []},
        doc! {"_id": 3, "name": "cid", "team": "a", "age": 35.5},
        doc! {"_id": 4, "name": "dee", "team": null, "age": "n/a", "tags": ["y"]},
    ]
}

// --- countDocuments ------------------------------------------------------------------------------

fn count_pipeline(filter: Document, skip: Option<i32>, limit: Option<i32>) -> Vec<Document> {
    let mut pipeline = vec![doc! {"$match": filter}];
    if let Some(skip) = skip {
        pipeline.push(doc! {"$skip": skip});
    }
    if let Some(limit) = limit {
        pipeline.push(doc! {"$limit": limit});
    }
    pipeline.push(doc! {"$group": {"_id": 1, "n": {"$sum": 1}}});
    pipeline
}

#[test]
fn count_documents() {
    assert_eq!(
        run(people(), count_pipeline(doc! {"team": "a"}, None, None)),
        vec![doc! {"_id": 1, "n": 2}]
    );
    assert_eq!(
        run(people(), count_pipeline(doc! {}, Some(1), Some(2))),
        vec![doc! {"_id": 1, "n": 2}]
    );
    assert_eq!(
        run(people(), count_pipeline(doc! {}, Some(3), None)),
        vec![doc! {"_id": 1, "n": 1}]
    );
    // No match: an empty result, not n: 0.
    assert_eq!(
        run(people(), count_pipeline(doc! {"team": "zz"}, None, None)),
        vec![]
    );
    assert_eq!(
        run(people(), count_pipeline(doc! {}, Some(10), None)),
        vec![]
    );
    assert_eq!(run(vec![], count_pipeline(doc! {}, None, None)), vec![]);
}

#[test]
fn count_stage() {
    assert_eq!(
        run(
            people(),
            vec![doc! {"$match": {"team": "a"}}, doc! {"$count": "total"}]
        ),
        vec![doc! {"total": 2}]
    );
    assert_eq!(run(vec![], vec![doc! {"$count": "total"}]), vec![]);
    assert_eq!(err(vec![doc! {"$count": ""}]).code, 40156);
    assert_eq!(err(vec![doc! {"$count": "$x"}]).code, 40158);
    assert_eq!(err(vec![doc! {"$count": "a.b"}]).code, 40160);
}

// --- stage basics --------------------------------------------------------------------------------

#[test]
fn match_sort_skip_limit() {
    let out = run(
        people(),
        vec![
            doc! {"$match": {"age": {"$gte": 25}}},
            doc! {"$sort": {"age": -1}},
            doc! {"$skip": 1},
            doc! {"$limit": Bson::Int64(1)},
        ],
    );
    assert_eq!(out, vec![people()[0].clone()]);
    assert_eq!(run(people(), vec![doc! {"$skip": 0}]).len(), 4);
    assert_eq!(run(people(), vec![doc! {"$skip": 99}]).len(), 0);
    assert_eq!(run(people(), vec![doc! {"$limit": 2.0}]).len(), 2);
    assert_eq!(run(people(), vec![]).len(), 4);
}

#[test]
fn stage_errors() {
    let e = err(vec![doc! {"$foo": {}}]);
    assert_eq!((e.code, e.code_name), (40324, "Location40324"));
    assert_eq!(e.message, "Unrecognized pipeline stage name: '$foo'");
    assert_eq!(err(vec![doc! {}]).code, 40323);
    assert_eq!(err(vec![doc! {"$match": {}, "$limit": 1}]).code, 40323);
    assert_eq!(err(vec![doc! {"$limit": 0}]).code, 15958);
    assert_eq!(err(vec![doc! {"$limit": -1}]).code, 15958);
    assert_eq!(err(vec![doc! {"$limit": "1"}]).code, 15957);
    assert_eq!(err(vec![doc! {"$skip": -1}]).code, 15956);
    assert_eq!(err(vec![doc! {"$skip": 1.5}]).code, 15957);
    assert_eq!(err(vec![doc! {"$sort": {}}]).code, 15976);
    assert_eq!(err(vec![doc! {"$sort": 1}]).code, 15973);
    assert_eq!(err(vec![doc! {"$match": 1}]).code, 15959);
    assert_eq!(err(vec![doc! {"$match": {"a": {"$bad": 1}}}]).code, 2);
    // A later invalid stage fails the whole pipeline before anything runs.
    assert_eq!(err(vec![doc! {"$limit": 1}, doc! {"$nope": 1}]).code, 40324);
    for stage in ["$lookup", "$facet", "$out", "$collStats", "$sample"] {
        let e = err(vec![doc! {stage: {}}]);
        assert!(e.message.contains("not supported by redhive"), "{stage}");
    }
}

// --- $project / $addFields / $unset ----------------------------------------------------------

#[test]
fn project_stage() {
    let out = run(
        people(),
        vec![
            doc! {"$match": {"_id": 1}},
            doc! {"$project": {"name": 1, "who": "$name", "k": {"$literal": 1}, "_id": 0}},
        ],
    );
    assert_eq!(out, vec![doc! {"name": "ann", "who": "ann", "k": 1}]);
    let out = run(
        people(),
        vec![
            doc! {"$match": {"_id": 2}},
            doc! {"$project": {"tags": 0, "age": 0}},
        ],
    );
    assert_eq!(out, vec![doc! {"_id": 2, "name": "bob", "team": "b"}]);
    assert_eq!(err(vec![doc! {"$project": {}}]).code, 51272);
    assert_eq!(err(vec![doc! {"$project": {"a": 1, "b": 0}}]).code, 31254);
    assert!(err(vec![doc! {"$project": {"a": {"$concat": ["$x"]}}}])
        .message
        .contains("not supported by redhive"));
}

#[test]
fn project_renames_nested_paths() {
    let out = run(
        vec![doc! {"_id": 1, "a": {"b": {"c": 5}}, "l": [{"v": 1}, {"v": 2}]}],
        vec![doc! {"$project": {"x": "$a.b.c", "vs": "$l.v", "_id": 0}}],
    );
    assert_eq!(out, vec![doc! {"x": 5, "vs": [1, 2]}]);
}

#[test]
fn add_fields_and_set() {
    let input = vec![doc! {"_id": 1, "a": {"b": 1}, "l": [{"v": 1}, 2], "s": 3}];
    let out = run(
        input.clone(),
        vec![doc! {"$addFields": {"c": "$s", "a.d": 2, "l.w": 0, "s": "$$REMOVE"}}],
    );
    assert_eq!(
        out,
        vec![doc! {"_id": 1, "a": {"b": 1, "d": 2}, "l": [{"v": 1, "w": 0}, {"w": 0}], "c": 3}]
    );
    // Nested object specs merge too; expressions see the input, not earlier fields.
    let out = run(
        input,
        vec![doc! {"$set": {"a": {"e": "$s"}, "s": 10, "t": "$s", "n.m": 1}}],
    );
    assert_eq!(
        out,
        vec![
            doc! {"_id": 1, "a": {"b": 1, "e": 3}, "l": [{"v": 1}, 2], "s": 10, "t": 3, "n": {"m": 1}}
        ]
    );
    assert_eq!(err(vec![doc! {"$addFields": {}}]).code, 40177);
    assert_eq!(err(vec![doc! {"$set": 1}]).code, 40272);
    assert_eq!(err(vec![doc! {"$set": {"a": 1, "a.b": 2}}]).code, 40176);
}

#[test]
fn unset_stage() {
    let out = run(
        vec![doc! {"_id": 1, "a": 1, "b": {"c": 1, "d": 2}}],
        vec![doc! {"$unset": ["a", "b.c"]}],
    );
    assert_eq!(out, vec![doc! {"_id": 1, "b": {"d": 2}}]);
    let out = run(vec![doc! {"_id": 1, "a": 1}], vec![doc! {"$unset": "_id"}]);
    assert_eq!(out, vec![doc! {"a": 1}]);
    assert_eq!(err(vec![doc! {"$unset": []}]).code, 31119);
    assert_eq!(err(vec![doc! {"$unset": [1]}]).code, 31120);
    assert_eq!(err(vec![doc! {"$unset": 1}]).code, 31002);
}

// --- $group ----------------------------------------------------------------------------------------

#[test]
fn group_by_field() {
    let out = run(
        people(),
        vec![doc! {"$group": {
            "_id": "$team",
            "n": {"$sum": 1},
            "ages": {"$sum": "$age"},
            "names": {"$push": "$name"},
            "first": {"$first": "$name"},
            "last": {"$last": "$name"},
        }}],
    );
    assert_eq!(
        out,
        vec![
            doc! {"_id": "a", "n": 2, "ages": 65.5, "names": ["ann", "cid"], "first": "ann", "last": "cid"},
            doc! {"_id": "b", "n": 1, "ages": 25, "names": ["bob"], "first": "bob", "last": "bob"},
            doc! {"_id": null, "n": 1, "ages": 0, "names": ["dee"], "first": "dee", "last": "dee"},
        ]
    );
}

#[test]
fn group_keys() {
    let docs = vec![
        doc! {"k": 1, "j": "x"},
        doc! {"k": 1.0, "j": "x"},
        doc! {"k": Bson::Int64(1), "j": "y"},
        doc! {"j": "y"},
        doc! {"k": null, "j": "y"},
    ];
    let out = run(
        docs.clone(),
        vec![doc! {"$group": {"_id": "$k", "n": {"$count": {}}}}],
    );
    assert_eq!(
        out,
        vec![doc! {"_id": 1, "n": 3}, doc! {"_id": null, "n": 2}]
    );
    let out = run(
        docs.clone(),
        vec![doc! {"$group": {"_id": {"k": "$k", "j": "$j"}, "n": {"$sum": 1}}}],
    );
    assert_eq!(
        out,
        vec![
            doc! {"_id": {"k": 1, "j": "x"}, "n": 2},
            doc! {"_id": {"k": Bson::Int64(1), "j": "y"}, "n": 1},
            doc! {"_id": {"j": "y"}, "n": 1},
            doc! {"_id": {"k": null, "j": "y"}, "n": 1},
        ]
    );
    let out = run(docs, vec![doc! {"$group": {"_id": null, "n": {"$sum": 1}}}]);
    assert_eq!(out, vec![doc! {"_id": null, "n": 5}]);
}

#[test]
fn sum_result_types() {
    let sum = |values: Vec<Bson>| {
        let docs = values.into_iter().map(|v| doc! {"v": v}).collect();
        run(
            docs,
            vec![doc! {"$group": {"_id": null, "s": {"$sum": "$v"}}}],
        )
        .first()
        .and_then(|d| d.get("s").cloned())
        .unwrap_or(Bson::Null)
    };
    assert_eq!(sum(vec![bson!(1), bson!(2)]), bson!(3));
    assert_eq!(
        sum(vec![bson!(i32::MAX), bson!(1)]),
        Bson::Int64(i64::from(i32::MAX) + 1)
    );
    assert_eq!(sum(vec![bson!(1), Bson::Int64(2)]), Bson::Int64(3));
    assert_eq!(
        sum(vec![Bson::Int64(i64::MAX), Bson::Int64(1)]),
        Bson::Double(i64::MAX as f64 + 1.0)
    );
    assert_eq!(sum(vec![bson!(1), bson!(0.5)]), bson!(1.5));
    assert_eq!(sum(vec![bson!("x"), bson!([1, 2]), Bson::Null]), bson!(0));
    assert_eq!(sum(vec![]), Bson::Null);
    let e = run_pipeline(
        vec![doc! {"v": Bson::Decimal128("1".parse().expect("decimal"))}],
        &[doc! {"$group": {"_id": null, "s": {"$sum": "$v"}}}],
    )
    .expect_err("decimal");
    assert!(e.message.contains("not supported by redhive"));
}

#[test]
fn other_accumulators() {
    let docs = vec![
        doc! {"v": 3, "t": "b"},
        doc! {"v": null, "t": "a"},
        doc! {"v": 1.5, "t": "b"},
        doc! {"t": "c"},
        doc! {"v": "s", "t": "a"},
    ];
    let out = run(
        docs,
        vec![doc! {"$group": {
            "_id": null,
            "avg": {"$avg": "$v"},
            "min": {"$min": "$v"},
            "max": {"$max": "$v"},
            "set": {"$addToSet": "$t"},
            "push": {"$push": "$v"},
            "first": {"$first": "$missing"},
        }}],
    );
    assert_eq!(
        out,
        vec![doc! {
            "_id": null,
            "avg": 2.25,
            "min": 1.5,
            "max": "s",
            "set": ["b", "a", "c"],
            "push": [3, null, 1.5, "s"],
            "first": null,
        }]
    );
    let out = run(
        vec![doc! {"v": "x"}],
        vec![doc! {"$group": {"_id": null, "avg": {"$avg": "$v"}, "min": {"$min": "$nope"}}}],
    );
    assert_eq!(out, vec![doc! {"_id": null, "avg": null, "min": null}]);
}

#[test]
fn group_errors() {
    assert_eq!(err(vec![doc! {"$group": {"n": {"$sum": 1}}}]).code, 15955);
    assert_eq!(
        err(vec![doc! {"$group": {"_id": null, "n": 1}}]).code,
        40234
    );
    assert_eq!(
        err(vec![
            doc! {"$group": {"_id": null, "n": {"$sum": 1, "$avg": 1}}}
        ])
        .code,
        40238
    );
    assert_eq!(
        err(vec![doc! {"$group": {"_id": null, "n": {"$nope": 1}}}]).code,
        15952
    );
    assert_eq!(
        err(vec![doc! {"$group": {"_id": null, "a.b": {"$sum": 1}}}]).code,
        40235
    );
    assert_eq!(
        err(vec![doc! {"$group": {"_id": null, "n": {"$sum": [1, 2]}}}]).code,
        40237
    );
    assert_eq!(
        err(vec![doc! {"$group": {"_id": null, "n": {"$count": 1}}}]).code,
        40156
    );
    assert!(err(vec![
        doc! {"$group": {"_id": null, "n": {"$stdDevPop": "$a"}}}
    ])
    .message
    .contains("not supported by redhive"));
}

// --- $unwind / $replaceRoot -------------------------------------------------------------------

#[test]
fn unwind() {
    let out = run(
        people(),
        vec![doc! {"$unwind": "$tags"}, doc! {"$project": {"tags": 1}}],
    );
    assert_eq!(
        out,
        vec![
            doc! {"_id": 1, "tags": "x"},
            doc! {"_id": 1, "tags": "y"},
            doc! {"_id": 4, "tags": "y"},
        ]
    );
    let out = run(
        people(),
        vec![
            doc! {"$unwind": {"path": "$tags", "includeArrayIndex": "i", "preserveNullAndEmptyArrays": true}},
            doc! {"$project": {"tags": 1, "i": 1}},
        ],
    );
    assert_eq!(
        out,
        vec![
            doc! {"_id": 1, "tags": "x", "i": Bson::Int64(0)},
            doc! {"_id": 1, "tags": "y", "i": Bson::Int64(1)},
            doc! {"_id": 2, "i": null},
            doc! {"_id": 3, "i": null},
            doc! {"_id": 4, "tags": "y", "i": Bson::Int64(0)},
        ]
    );
    let out = run(
        vec![doc! {"_id": 1, "a": {"b": 5}}],
        vec![doc! {"$unwind": "$a.b"}],
    );
    assert_eq!(out, vec![doc! {"_id": 1, "a": {"b": 5}}]);
    assert_eq!(err(vec![doc! {"$unwind": "tags"}]).code, 28818);
    assert_eq!(
        err(vec![doc! {"$unwind": {"includeArrayIndex": "i"}}]).code,
        28812
    );
    assert_eq!(
        err(vec![doc! {"$unwind": {"path": "$a", "x": 1}}]).code,
        28811
    );
}

#[test]
fn replace_root() {
    let docs = vec![doc! {"_id": 1, "inner": {"a": 1}}];
    assert_eq!(
        run(
            docs.clone(),
            vec![doc! {"$replaceRoot": {"newRoot": "$inner"}}]
        ),
        vec![doc! {"a": 1}]
    );
    assert_eq!(
        run(docs.clone(), vec![doc! {"$replaceWith": {"x": "$_id"}}]),
        vec![doc! {"x": 1}]
    );
    let e = run_pipeline(docs, &[doc! {"$replaceWith": "$nope"}]).expect_err("missing root");
    assert_eq!(e.code, 40228);
    assert_eq!(err(vec![doc! {"$replaceRoot": {}}]).code, 40231);
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::query::filter::tests::properties::{document, value};

    fn stage() -> impl Strategy<Value = Document> {
        let name = prop_oneof![
            Just("$match"),
            Just("$project"),
            Just("$addFields"),
            Just("$set"),
            Just("$unset"),
            Just("$sort"),
            Just("$skip"),
            Just("$limit"),
            Just("$count"),
            Just("$group"),
            Just("$unwind"),
            Just("$replaceRoot"),
            Just("$replaceWith"),
            Just("$bogus"),
        ];
        (name, value()).prop_map(|(name, argument)| doc! {name: argument})
    }

    proptest! {
        #[test]
        fn pipelines_never_panic(
            docs in prop::collection::vec(document(), 0..4),
            stages in prop::collection::vec(stage(), 0..4),
        ) {
            let _ = run_pipeline(docs, &stages);
        }
    }
}
