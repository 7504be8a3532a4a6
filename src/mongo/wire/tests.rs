use super::*;
use bson::doc;
use proptest::prelude::*;

/// `{hello: 1, $db: "admin"}` as an OP_MSG with requestID 7, written out byte by byte.
const HELLO_MSG: &[u8] = &[
    0x34, 0x00, 0x00, 0x00, // messageLength 52
    0x07, 0x00, 0x00, 0x00, // requestID 7
    0x00, 0x00, 0x00, 0x00, // responseTo 0
    0xdd, 0x07, 0x00, 0x00, // opCode 2013
    0x00, 0x00, 0x00, 0x00, // flagBits
    0x00, // section kind 0
    0x1f, 0x00, 0x00, 0x00, // document length 31
    0x10, b'h', b'e', b'l', b'l', b'o', 0x00, 0x01, 0x00, 0x00, 0x00, // hello: int32 1
    0x02, b'$', b'd', b'b', 0x00, 0x06, 0x00, 0x00, 0x00, b'a', b'd', b'm', b'i', b'n', 0x00,
    0x00, // end of document
];

/// `{isMaster: 1}` to `admin.$cmd` as an OP_QUERY with requestID 1, numberToReturn -1.
const IS_MASTER_QUERY: &[u8] = &[
    0x3a, 0x00, 0x00, 0x00, // messageLength 58
    0x01, 0x00, 0x00, 0x00, // requestID 1
    0x00, 0x00, 0x00, 0x00, // responseTo 0
    0xd4, 0x07, 0x00, 0x00, // opCode 2004
    0x00, 0x00, 0x00, 0x00, // flags
    b'a', b'd', b'm', b'i', b'n', b'.', b'$', b'c', b'm', b'd', 0x00, // fullCollectionName
    0x00, 0x00, 0x00, 0x00, // numberToSkip 0
    0xff, 0xff, 0xff, 0xff, // numberToReturn -1
    0x13, 0x00, 0x00, 0x00, // document length 19
    0x10, b'i', b's', b'M', b'a', b's', b't', b'e', b'r', 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
];

/// OP_REPLY answering request 7 with `{ok: 1.0}`, requestID 1.
const OK_REPLY: &[u8] = &[
    0x35, 0x00, 0x00, 0x00, // messageLength 53
    0x01, 0x00, 0x00, 0x00, // requestID 1
    0x07, 0x00, 0x00, 0x00, // responseTo 7
    0x01, 0x00, 0x00, 0x00, // opCode 1
    0x00, 0x00, 0x00, 0x00, // responseFlags
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // cursorID
    0x00, 0x00, 0x00, 0x00, // startingFrom
    0x01, 0x00, 0x00, 0x00, // numberReturned
    0x11, 0x00, 0x00, 0x00, // document length 17
    0x01, b'o', b'k', 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0x00,
];

fn bson_bytes(doc: &Document) -> Vec<u8> {
    bson::to_vec(doc).unwrap()
}

/// Prefix `payload` with a header whose length is computed honestly.
fn message(op_code: i32, request_id: i32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((16 + payload.len()) as i32).to_le_bytes());
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&op_code.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn kind0(doc: &Document) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&bson_bytes(doc));
    out
}

fn kind1(identifier: &str, docs: &[Document]) -> Vec<u8> {
    let mut inner = Vec::new();
    inner.extend_from_slice(identifier.as_bytes());
    inner.push(0);
    for d in docs {
        inner.extend_from_slice(&bson_bytes(d));
    }
    let mut out = vec![1u8];
    out.extend_from_slice(&((inner.len() + 4) as i32).to_le_bytes());
    out.extend_from_slice(&inner);
    out
}

/// An OP_MSG with the given flags and sections; with the checksum flag a correct CRC-32C is
/// appended.
fn op_msg(flags: u32, sections: &[Vec<u8>]) -> Vec<u8> {
    let mut payload = flags.to_le_bytes().to_vec();
    for s in sections {
        payload.extend_from_slice(s);
    }
    if flags & 1 != 0 {
        payload.extend_from_slice(&[0; 4]);
        let mut msg = message(OP_MSG, 42, &payload);
        let n = msg.len();
        let crc = crc32c::crc32c(&msg[..n - 4]);
        msg[n - 4..].copy_from_slice(&crc.to_le_bytes());
        msg
    } else {
        message(OP_MSG, 42, &payload)
    }
}

fn parse_full(buf: &[u8]) -> Request {
    let (request, consumed) = parse(buf).unwrap().expect("complete message");
    assert_eq!(consumed, buf.len());
    request
}

fn parse_err(buf: &[u8]) -> WireError {
    match parse(buf) {
        Err(e) => e,
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

fn set_i32(buf: &mut [u8], at: usize, value: i32) {
    buf[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[test]
fn golden_op_msg_parses_and_encodes_byte_for_byte() {
    let body = doc! {"hello": 1, "$db": "admin"};
    let request = parse_full(HELLO_MSG);
    assert_eq!(
        request,
        Request::Msg {
            header: Header {
                length: 52,
                request_id: 7,
                response_to: 0,
                op_code: OP_MSG
            },
            more_to_come: false,
            body: body.clone(),
        }
    );
    assert_eq!(encode_msg(7, 0, &body), HELLO_MSG);
}

#[test]
fn golden_op_query_parses() {
    let request = parse_full(IS_MASTER_QUERY);
    assert_eq!(
        request,
        Request::Query {
            header: Header {
                length: 58,
                request_id: 1,
                response_to: 0,
                op_code: OP_QUERY
            },
            collection: "admin.$cmd".to_owned(),
            number_to_skip: 0,
            number_to_return: -1,
            query: doc! {"isMaster": 1},
        }
    );
    assert_eq!(request.header().request_id, 1);
}

#[test]
fn golden_op_reply_encodes_byte_for_byte() {
    assert_eq!(encode_reply(1, 7, &doc! {"ok": 1.0}), OK_REPLY);
}

#[test]
fn encoded_reply_parses_back_as_op_msg() {
    let body = doc! {"ok": 1.0, "n": 3i64, "nested": {"a": [1, 2, "x"]}};
    let bytes = encode_msg(99, 42, &body);
    match parse_full(&bytes) {
        Request::Msg {
            header,
            more_to_come,
            body: parsed,
        } => {
            assert_eq!(header.request_id, 99);
            assert_eq!(header.response_to, 42);
            assert_eq!(header.length as usize, bytes.len());
            assert!(!more_to_come);
            assert_eq!(parsed, body);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn op_query_with_return_fields_selector() {
    let mut payload = 0u32.to_le_bytes().to_vec();
    payload.extend_from_slice(b"admin.$cmd\0");
    payload.extend_from_slice(&0i32.to_le_bytes());
    payload.extend_from_slice(&(-1i32).to_le_bytes());
    payload.extend_from_slice(&bson_bytes(&doc! {"hello": 1}));
    payload.extend_from_slice(&bson_bytes(&doc! {"x": 1}));
    let msg = message(OP_QUERY, 3, &payload);
    assert!(matches!(parse_full(&msg), Request::Query { .. }));

    // Anything after the selector is garbage.
    payload.push(0);
    let msg = message(OP_QUERY, 3, &payload);
    assert!(matches!(
        parse_err(&msg),
        WireError::TrailingBytes { count: 1, .. }
    ));
}

#[test]
fn kind1_sequence_with_two_documents_is_merged() {
    let body = doc! {"insert": "c", "$db": "test"};
    let docs = [doc! {"_id": 1}, doc! {"_id": 2, "x": "y"}];
    let expected =
        doc! {"insert": "c", "$db": "test", "documents": [docs[0].clone(), docs[1].clone()]};
    // "Sections may exist in any order."
    for sections in [
        vec![kind0(&body), kind1("documents", &docs)],
        vec![kind1("documents", &docs), kind0(&body)],
    ] {
        match parse_full(&op_msg(0, &sections)) {
            Request::Msg { body, .. } => assert_eq!(body, expected),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn kind1_sequence_golden_bytes() {
    let msg = op_msg(
        0,
        &[
            kind0(&doc! {"delete": "c"}),
            kind1("deletes", &[doc! {"q": {}, "limit": 1}]),
        ],
    );
    // Spot-check the layout of the kind-1 section as the drivers produce it.
    let seq_at = 16 + 4 + 1 + bson_bytes(&doc! {"delete": "c"}).len();
    assert_eq!(msg[seq_at], 1);
    let size = i32::from_le_bytes(msg[seq_at + 1..seq_at + 5].try_into().unwrap());
    assert_eq!(size as usize, msg.len() - seq_at - 1);
    assert_eq!(&msg[seq_at + 5..seq_at + 13], b"deletes\0");
    match parse_full(&msg) {
        Request::Msg { body, .. } => {
            assert_eq!(
                body,
                doc! {"delete": "c", "deletes": [{"q": {}, "limit": 1}]}
            )
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn empty_kind1_sequence_becomes_empty_array() {
    let msg = op_msg(0, &[kind0(&doc! {"insert": "c"}), kind1("documents", &[])]);
    match parse_full(&msg) {
        Request::Msg { body, .. } => {
            assert_eq!(body, doc! {"insert": "c", "documents": []})
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn sequence_colliding_with_body_or_another_sequence_is_rejected() {
    let body = doc! {"insert": "c", "documents": []};
    let msg = op_msg(0, &[kind0(&body), kind1("documents", &[doc! {}])]);
    assert!(
        matches!(parse_err(&msg), WireError::DuplicateField { identifier } if identifier == "documents")
    );

    let msg = op_msg(
        0,
        &[
            kind0(&doc! {"insert": "c"}),
            kind1("documents", &[doc! {}]),
            kind1("documents", &[doc! {}]),
        ],
    );
    assert!(matches!(parse_err(&msg), WireError::DuplicateField { .. }));
}

#[test]
fn body_section_count_must_be_exactly_one() {
    let msg = op_msg(0, &[kind1("documents", &[doc! {}])]);
    assert!(matches!(
        parse_err(&msg),
        WireError::BodySectionCount { count: 0 }
    ));
    let msg = op_msg(0, &[kind0(&doc! {"a": 1}), kind0(&doc! {"b": 1})]);
    assert!(matches!(
        parse_err(&msg),
        WireError::BodySectionCount { count: 2 }
    ));
}

#[test]
fn checksum_is_verified() {
    let body = doc! {"ping": 1, "$db": "admin"};
    let good = op_msg(1, &[kind0(&body)]);
    match parse_full(&good) {
        Request::Msg { body: parsed, .. } => assert_eq!(parsed, body),
        other => panic!("unexpected {other:?}"),
    }

    let mut wrong_crc = good.clone();
    let n = wrong_crc.len();
    wrong_crc[n - 1] ^= 0xff;
    assert!(matches!(
        parse_err(&wrong_crc),
        WireError::ChecksumMismatch { .. }
    ));

    // A corrupted body under an intact CRC is caught too.
    let mut corrupted = good.clone();
    corrupted[30] ^= 0x01;
    assert!(matches!(
        parse_err(&corrupted),
        WireError::ChecksumMismatch { .. }
    ));

    // The flag without room for the checksum.
    let mut no_room = op_msg(0, &[kind0(&doc! {})]);
    no_room[16] = 1;
    assert!(parse(&no_room).is_err());
}

#[test]
fn flag_bits() {
    let body = doc! {"insert": "c", "writeConcern": {"w": 0}};
    match parse_full(&op_msg(2, &[kind0(&body)])) {
        Request::Msg { more_to_come, .. } => assert!(more_to_come),
        other => panic!("unexpected {other:?}"),
    }
    // checksum + moreToCome together.
    match parse_full(&op_msg(3, &[kind0(&body)])) {
        Request::Msg { more_to_come, .. } => assert!(more_to_come),
        other => panic!("unexpected {other:?}"),
    }
    // exhaustAllowed and unknown optional bits are ignored.
    for flags in [1u32 << 16, 1 << 17, 1 << 31] {
        match parse_full(&op_msg(flags, &[kind0(&body)])) {
            Request::Msg { more_to_come, .. } => assert!(!more_to_come),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Unknown required bits are fatal.
    for flags in [1u32 << 2, 1 << 8, 1 << 15] {
        assert!(matches!(
            parse_err(&op_msg(flags, &[kind0(&body)])),
            WireError::BadFlags { flags: f } if f == flags
        ));
    }
}

#[test]
fn every_prefix_of_a_valid_message_is_incomplete() {
    let messages = [
        HELLO_MSG.to_vec(),
        IS_MASTER_QUERY.to_vec(),
        op_msg(
            1,
            &[
                kind0(&doc! {"insert": "c"}),
                kind1("documents", &[doc! {"_id": 1}, doc! {"_id": 2}]),
            ],
        ),
    ];
    for msg in messages {
        for len in 0..msg.len() {
            assert!(
                matches!(parse(&msg[..len]), Ok(None)),
                "prefix of {len} bytes"
            );
        }
        assert!(parse(&msg).unwrap().is_some());
    }
}

#[test]
fn only_the_first_message_is_consumed() {
    let mut buf = HELLO_MSG.to_vec();
    buf.extend_from_slice(IS_MASTER_QUERY);
    let (first, consumed) = parse(&buf).unwrap().unwrap();
    assert!(matches!(first, Request::Msg { .. }));
    assert_eq!(consumed, HELLO_MSG.len());
    let (second, consumed2) = parse(&buf[consumed..]).unwrap().unwrap();
    assert!(matches!(second, Request::Query { .. }));
    assert_eq!(consumed2, IS_MASTER_QUERY.len());
}

#[test]
fn declared_length_limits_are_checked_before_waiting() {
    // Oversized: rejected from the first four bytes alone.
    let oversized = ((MAX_MESSAGE_SIZE + 1) as i32).to_le_bytes();
    assert!(matches!(
        parse_err(&oversized),
        WireError::TooLarge { length } if length == MAX_MESSAGE_SIZE + 1
    ));
    assert!(matches!(
        parse_err(&i32::MAX.to_le_bytes()),
        WireError::TooLarge { .. }
    ));
    // Exactly the maximum is allowed, so we wait for the rest.
    let mut at_max = HELLO_MSG.to_vec();
    set_i32(&mut at_max, 0, MAX_MESSAGE_SIZE as i32);
    assert!(matches!(parse(&at_max), Ok(None)));

    // Below the header size, including negative lengths.
    for length in [i32::MIN, -1, 0, 4, 15] {
        assert!(matches!(
            parse_err(&length.to_le_bytes()),
            WireError::TooShort { length: l, .. } if l == length
        ));
    }

    // Below the per-opcode minimum, known from the header alone.
    let mut short_msg = HELLO_MSG[..16].to_vec();
    set_i32(&mut short_msg, 0, 25);
    assert!(matches!(
        parse_err(&short_msg),
        WireError::TooShort { minimum: 26, .. }
    ));
    let mut short_query = IS_MASTER_QUERY[..16].to_vec();
    set_i32(&mut short_query, 0, 33);
    assert!(matches!(
        parse_err(&short_query),
        WireError::TooShort { minimum: 34, .. }
    ));
}

#[test]
fn unknown_opcodes_are_named() {
    for op_code in [OP_REPLY, 2001, 2002, 2005, 2010, 2011, 2012, 0, -1] {
        let mut msg = HELLO_MSG.to_vec();
        set_i32(&mut msg, 12, op_code);
        let err = parse_err(&msg[..16]);
        assert!(matches!(err, WireError::UnknownOpCode { op_code: o } if o == op_code));
        assert!(err.to_string().contains(&op_code.to_string()));
    }
}

#[test]
fn outer_length_shorter_than_content_is_an_error() {
    // Claim one byte less: the body document no longer fits.
    let mut msg = HELLO_MSG.to_vec();
    set_i32(&mut msg, 0, 51);
    assert!(matches!(parse_err(&msg), WireError::BadBson { .. }));
    // Claim more than is sent, with trailing bytes of another message: those bytes become a
    // bogus section.
    let mut msg = HELLO_MSG.to_vec();
    set_i32(&mut msg, 0, 53);
    msg.push(9);
    assert!(matches!(parse_err(&msg), WireError::BadSection { .. }));
}

#[test]
fn lying_inner_bson_lengths_are_errors() {
    let doc_at = 21;
    for lie in [i32::MIN, -1, 0, 4, 30, 32, 1000, i32::MAX] {
        let mut msg = HELLO_MSG.to_vec();
        set_i32(&mut msg, doc_at, lie);
        assert!(
            matches!(parse_err(&msg), WireError::BadBson { .. }),
            "inner length {lie}"
        );
    }
    // A string inside the document whose length points past the document.
    let mut msg = HELLO_MSG.to_vec();
    set_i32(&mut msg, 41, 100);
    assert!(matches!(parse_err(&msg), WireError::BadBson { .. }));

    // The same in OP_QUERY's query document.
    let mut query = IS_MASTER_QUERY.to_vec();
    set_i32(&mut query, 39, 20);
    assert!(matches!(parse_err(&query), WireError::BadBson { .. }));
}

#[test]
fn lying_sequence_sizes_are_errors() {
    let body = kind0(&doc! {"insert": "c"});
    let good = kind1("documents", &[doc! {"_id": 1}, doc! {"_id": 2}]);
    for size in [i32::MIN, -1, 0, 3, 4, 1000, i32::MAX] {
        let mut seq = good.clone();
        set_i32(&mut seq, 1, size);
        let msg = op_msg(0, &[body.clone(), seq]);
        assert!(
            matches!(
                parse_err(&msg),
                WireError::BadSection { .. } | WireError::BadCString { .. }
            ),
            "sequence size {size}"
        );
    }
    // A size that cuts the last document short.
    let mut seq = good.clone();
    let size = i32::from_le_bytes(seq[1..5].try_into().unwrap());
    set_i32(&mut seq, 1, size - 1);
    let msg = op_msg(0, &[seq, body.clone()]);
    assert!(matches!(parse_err(&msg), WireError::BadBson { .. }));

    // Identifier without a terminator inside the section.
    let mut seq = vec![1u8];
    seq.extend_from_slice(&8i32.to_le_bytes());
    seq.extend_from_slice(b"docs");
    let msg = op_msg(0, &[body.clone(), seq]);
    assert!(matches!(parse_err(&msg), WireError::BadCString { .. }));

    // Empty identifier.
    let msg = op_msg(0, &[body, kind1("", &[])]);
    assert!(matches!(parse_err(&msg), WireError::BadSection { .. }));
}

#[test]
fn truncated_sections_are_errors() {
    let body = kind0(&doc! {"insert": "c"});
    // A kind byte and nothing else.
    let msg = op_msg(0, &[body.clone(), vec![1]]);
    assert!(matches!(parse_err(&msg), WireError::Truncated { .. }));
    let msg = op_msg(0, &[body.clone(), vec![0, 5, 0]]);
    assert!(matches!(parse_err(&msg), WireError::BadBson { .. }));
    // Unknown section kind.
    let msg = op_msg(0, &[body.clone(), vec![2, 5, 0, 0, 0, 0]]);
    assert!(matches!(parse_err(&msg), WireError::BadSection { .. }));
    // OP_QUERY cut inside its collection name.
    let mut payload = 0u32.to_le_bytes().to_vec();
    payload.extend_from_slice(b"admin.$cmd.with.a.very.long.name.and.no.terminator");
    let msg = message(OP_QUERY, 1, &payload);
    assert!(matches!(parse_err(&msg), WireError::BadCString { .. }));
    // OP_QUERY with a non-UTF-8 collection name.
    let mut payload = 0u32.to_le_bytes().to_vec();
    payload.extend_from_slice(b"\xff\xfe\0");
    payload.extend_from_slice(&[0; 8]);
    payload.extend_from_slice(&bson_bytes(&doc! {}));
    let msg = message(OP_QUERY, 1, &payload);
    assert!(matches!(
        parse_err(&msg),
        WireError::BadCString {
            reason: "not valid UTF-8",
            ..
        }
    ));
}

#[test]
fn nesting_depth_is_bounded() {
    fn nested(depth: usize) -> Document {
        let mut d = doc! {};
        for _ in 1..depth {
            d = doc! {"a": d};
        }
        d
    }
    // The deepest accepted document must parse on a tokio worker's 2 MiB stack, debug build
    // included.
    let ok = op_msg(0, &[kind0(&nested(MAX_BSON_DEPTH))]);
    let parsed = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || parse(&ok).map(|r| r.is_some()).unwrap_or(false))
        .unwrap()
        .join()
        .unwrap();
    assert!(parsed);
    let too_deep = op_msg(0, &[kind0(&nested(MAX_BSON_DEPTH + 1))]);
    assert!(matches!(parse_err(&too_deep), WireError::BadBson { .. }));

    let mut arrays = Bson::Array(vec![]);
    for _ in 0..MAX_BSON_DEPTH {
        arrays = Bson::Array(vec![arrays]);
    }
    let msg = op_msg(0, &[kind0(&doc! {"a": arrays})]);
    assert!(matches!(parse_err(&msg), WireError::BadBson { .. }));
}

fn reply_body(bytes: &[u8]) -> Document {
    let length = i32::from_le_bytes(bytes[..4].try_into().unwrap());
    assert_eq!(length as usize, bytes.len());
    let op_code = i32::from_le_bytes(bytes[12..16].try_into().unwrap());
    let doc_at = if op_code == OP_MSG { 21 } else { 36 };
    Document::from_reader(&bytes[doc_at..]).unwrap()
}

#[test]
fn unencodable_replies_become_error_replies() {
    let bad_key = doc! {"a\0b": 1};
    let bad_regex = doc! {"r": bson::Regex { pattern: "a\0".into(), options: String::new() }};
    for bytes in [
        encode_msg(1, 2, &bad_key),
        encode_reply(1, 2, &bad_key),
        encode_msg(1, 2, &bad_regex),
    ] {
        let body = reply_body(&bytes);
        assert_eq!(body.get_f64("ok").unwrap(), 0.0);
        assert_eq!(body.get_i32("code").unwrap(), INTERNAL_ERROR);
        assert_eq!(body.get_str("codeName").unwrap(), "InternalError");
        assert!(body.get_str("errmsg").unwrap().contains("encoded"));
        // Still answers the right request.
        assert_eq!(i32::from_le_bytes(bytes[8..12].try_into().unwrap()), 2);
    }
}

/// A document of four binary fields (bson refuses single binaries over 16 MiB) whose
/// payloads add up to `total`.
fn big_document(total: usize) -> Document {
    let mut doc = Document::new();
    for (i, part) in [total / 4, total / 4, total / 4, total - 3 * (total / 4)]
        .into_iter()
        .enumerate()
    {
        let binary = bson::Binary {
            subtype: bson::spec::BinarySubtype::Generic,
            bytes: vec![7; part],
        };
        doc.insert(format!("d{i}"), binary);
    }
    doc
}

#[test]
fn oversized_replies_become_error_replies() {
    let bytes = encode_msg(1, 2, &big_document(MAX_MESSAGE_SIZE));
    assert!(bytes.len() < 1024);
    let body = reply_body(&bytes);
    assert_eq!(body.get_f64("ok").unwrap(), 0.0);
    assert_eq!(body.get_i32("code").unwrap(), BSON_OBJECT_TOO_LARGE);
    assert_eq!(body.get_str("codeName").unwrap(), "BSONObjectTooLarge");

    // Exactly the limit is sent as is.
    let overhead = 16 + 5 + bson_bytes(&big_document(0)).len();
    let bytes = encode_msg(1, 2, &big_document(MAX_MESSAGE_SIZE - overhead));
    assert_eq!(bytes.len(), MAX_MESSAGE_SIZE);
    assert!(parse(&bytes).unwrap().is_some());
}

fn valid_messages() -> Vec<Vec<u8>> {
    vec![
        HELLO_MSG.to_vec(),
        IS_MASTER_QUERY.to_vec(),
        op_msg(
            1,
            &[
                kind0(&doc! {"insert": "c", "$db": "t"}),
                kind1(
                    "documents",
                    &[doc! {"_id": 1, "s": "x"}, doc! {"a": [1, 2]}],
                ),
            ],
        ),
        op_msg(
            2,
            &[kind1("updates", &[doc! {"q": {}}]), kind0(&doc! {"u": 1})],
        ),
    ]
}

fn check_never_panics(buf: &[u8]) {
    if let Ok(Some((_, consumed))) = parse(buf) {
        assert!(consumed <= buf.len());
        assert!(consumed >= 16);
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Set { at: usize, value: u8 },
    SetI32 { at: usize, value: i32 },
    Truncate { len: usize },
    Insert { at: usize, bytes: Vec<u8> },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        (
            any::<usize>(),
            prop_oneof![
                any::<i32>(),
                -8..64i32,
                Just(i32::MAX),
                Just(MAX_MESSAGE_SIZE as i32)
            ]
        )
            .prop_map(|(at, value)| Mutation::SetI32 { at, value }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
    ]
}

fn apply(buf: &mut Vec<u8>, m: &Mutation) {
    let len = buf.len().max(1);
    match m {
        Mutation::Flip { at, mask } => {
            if let Some(b) = buf.get_mut(at % len) {
                *b ^= mask;
            }
        }
        Mutation::Set { at, value } => {
            if let Some(b) = buf.get_mut(at % len) {
                *b = *value;
            }
        }
        Mutation::SetI32 { at, value } => {
            let at = at % len;
            for (i, byte) in value.to_le_bytes().iter().enumerate() {
                if let Some(b) = buf.get_mut(at + i) {
                    *b = *byte;
                }
            }
        }
        Mutation::Truncate { len: l } => buf.truncate(l % len),
        Mutation::Insert { at, bytes } => {
            let at = at % (buf.len() + 1);
            buf.splice(at..at, bytes.iter().copied());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
        check_never_panics(&buf);
    }

    #[test]
    fn random_bytes_behind_a_plausible_header_never_panic(
        op_code in prop_oneof![Just(OP_MSG), Just(OP_QUERY)],
        flags in prop_oneof![Just(0u32), Just(1), Just(2), any::<u32>()],
        rest in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut payload = flags.to_le_bytes().to_vec();
        payload.extend_from_slice(&rest);
        check_never_panics(&message(op_code, 1, &payload));
    }

    #[test]
    fn mutated_valid_messages_never_panic(
        which in 0..4usize,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut buf = valid_messages().swap_remove(which);
        for m in &mutations {
            apply(&mut buf, m);
        }
        check_never_panics(&buf);
    }
}
