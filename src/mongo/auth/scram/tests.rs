use super::*;
use proptest::prelude::*;

const SECRET: &[u8] = b"test fake-salt secret";

fn b64(s: &str) -> Vec<u8> {
    BASE64.decode(s).unwrap()
}

/// A minimal SCRAM client, written from RFC 5802 §3 the way the drivers do it, to drive the
/// server through whole conversations.
struct TestClient {
    mechanism: Mechanism,
    /// Already prepared (MD5 digest or SASLprep'd), as the driver would.
    prepared_password: String,
    first_bare: String,
    nonce: String,
}

impl TestClient {
    fn new(mechanism: Mechanism, username: &str, password: &str) -> TestClient {
        let prepared_password = mechanism.prepare_password(username, password).unwrap();
        let nonce = BASE64.encode(rand::random::<[u8; 24]>());
        TestClient::with_prepared(mechanism, username, &prepared_password, &nonce)
    }

    fn with_prepared(
        mechanism: Mechanism,
        username: &str,
        prepared_password: &str,
        nonce: &str,
    ) -> TestClient {
        let escaped = username.replace('=', "=3D").replace(',', "=2C");
        TestClient {
            mechanism,
            prepared_password: prepared_password.to_owned(),
            first_bare: format!("n={escaped},r={nonce}"),
            nonce: nonce.to_owned(),
        }
    }

    fn first(&self) -> Vec<u8> {
        format!("n,,{}", self.first_bare).into_bytes()
    }

    /// Returns the client-final message and the server-final message the client expects.
    fn final_message(&self, server_first: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let server_first = std::str::from_utf8(server_first).unwrap();
        let mut parts = server_first.split(',');
        let nonce = parts.next().unwrap().strip_prefix("r=").unwrap();
        let salt = b64(parts.next().unwrap().strip_prefix("s=").unwrap());
        let iterations: u32 = parts
            .next()
            .unwrap()
            .strip_prefix("i=")
            .unwrap()
            .parse()
            .unwrap();
        // What pymongo and the Node driver check before answering.
        assert!(nonce.starts_with(&self.nonce) && nonce.len() > self.nonce.len());
        assert!(iterations >= 4096);

        let m = self.mechanism;
        let salted = m.salted_password(self.prepared_password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key").unwrap();
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{},{server_first},{without_proof}", self.first_bare);
        let signature = m.hmac(&stored_key, auth.as_bytes()).unwrap();
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key").unwrap();
        let server_signature = m.hmac(&server_key, auth.as_bytes()).unwrap();
        (
            format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes(),
            format!("v={}", BASE64.encode(server_signature)).into_bytes(),
        )
    }
}

/// Run a whole conversation: the server side holds `credential`, the client knows
/// `password`.
fn authenticate(
    mechanism: Mechanism,
    username: &str,
    password: &str,
    credential: Option<StoredCredential>,
) -> Result<String, ScramError> {
    let client = TestClient::new(mechanism, username, password);
    let first = ClientFirst::parse(&client.first())?;
    assert_eq!(first.username(), username);
    let (conversation, server_first) =
        ServerConversation::start(mechanism, first, credential, SECRET);
    let (client_final, expected_server_final) = client.final_message(&server_first);
    let (user, server_final) = conversation.finish(&client_final)?;
    assert_eq!(server_final, expected_server_final);
    Ok(user)
}

fn started(
    mechanism: Mechanism,
    client: &TestClient,
    credential: Option<StoredCredential>,
) -> (ServerConversation, Vec<u8>) {
    let first = ClientFirst::parse(&client.first()).unwrap();
    ServerConversation::start(mechanism, first, credential, SECRET)
}

/// RFC 7677 §3, replayed byte for byte.
#[test]
fn rfc7677_scram_sha256_example() {
    let credential = StoredCredential::from_prepared_password(
        Mechanism::Sha256,
        b"pencil",
        b64("W22ZaJ0SNY7soEsUEjb6gQ=="),
        4096,
    )
    .unwrap();
    let first = ClientFirst::parse(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
    assert_eq!(first.username(), "user");
    let (conversation, server_first) = ServerConversation::start_with_nonce(
        Mechanism::Sha256,
        first,
        Some(credential),
        SECRET,
        "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
    );
    assert_eq!(
        server_first,
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );
    let (user, server_final) = conversation
        .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        .unwrap();
    assert_eq!(user, "user");
    assert_eq!(
        server_final,
        b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
}

/// RFC 5802 §5, with the password used raw as the RFC does.
#[test]
fn rfc5802_scram_sha1_example() {
    let credential = StoredCredential::from_prepared_password(
        Mechanism::Sha1,
        b"pencil",
        b64("QSXCR+Q6sek8bf92"),
        4096,
    )
    .unwrap();
    let first = ClientFirst::parse(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL").unwrap();
    let (conversation, server_first) = ServerConversation::start_with_nonce(
        Mechanism::Sha1,
        first,
        Some(credential),
        SECRET,
        "3rfcNHYJY1ZVvWVs7j",
    );
    assert_eq!(
        server_first,
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
    );
    let (user, server_final) = conversation
        .finish(
            b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
        )
        .unwrap();
    assert_eq!(user, "user");
    assert_eq!(server_final, b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

/// The SCRAM-SHA-1 conversation from MongoDB's auth spec, which runs on the MD5 password
/// digest: this pins MongoDB's password preparation, not just the RFC arithmetic.
#[test]
fn mongodb_auth_spec_scram_sha1_example() {
    let prepared = Mechanism::Sha1.prepare_password("user", "pencil").unwrap();
    let credential = StoredCredential::from_prepared_password(
        Mechanism::Sha1,
        prepared.as_bytes(),
        b64("rQ9ZY3MntBeuP3E1TDVC4w=="),
        10_000,
    )
    .unwrap();
    let first = ClientFirst::parse(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL").unwrap();
    let (conversation, server_first) = ServerConversation::start_with_nonce(
        Mechanism::Sha1,
        first,
        Some(credential),
        SECRET,
        "Ho+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE",
    );
    assert_eq!(
        server_first,
        b"r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000"
    );
    let (_, server_final) = conversation
        .finish(b"c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY=")
        .unwrap();
    assert_eq!(server_final, b"v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=");
}

/// The test client reproduces the RFC 7677 proof, so the round trips below are checked by
/// an independently validated client.
#[test]
fn test_client_matches_rfc7677() {
    let client =
        TestClient::with_prepared(Mechanism::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
    assert_eq!(client.first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let (client_final, server_final) = client.final_message(
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    );
    assert_eq!(
        client_final,
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    );
    assert_eq!(
        server_final,
        b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
}

#[test]
fn sha1_password_is_mongodb_md5_digest() {
    let digest = Md5::digest(b"user:mongo:pencil");
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "1c33006ec1ffd90f9cadcbcc0e118200");
    assert_eq!(
        Mechanism::Sha1.prepare_password("user", "pencil").unwrap(),
        hex
    );
    // Not SASLprep'd: a control character is fine for SHA-1.
    assert!(Mechanism::Sha1.prepare_password("user", "a\u{7}b").is_ok());
}

#[test]
fn round_trip_both_mechanisms() {
    for mechanism in [Mechanism::Sha1, Mechanism::Sha256] {
        let credential = StoredCredential::derive(mechanism, "alice", "s3cret!").unwrap();
        assert_eq!(credential.mechanism, mechanism);
        assert_eq!(credential.iterations, mechanism.default_iterations());
        assert_eq!(credential.salt.len(), mechanism.salt_len());
        let user = authenticate(mechanism, "alice", "s3cret!", Some(credential)).unwrap();
        assert_eq!(user, "alice");
    }
}

#[test]
fn wrong_password_fails() {
    for mechanism in [Mechanism::Sha1, Mechanism::Sha256] {
        let credential = StoredCredential::derive(mechanism, "alice", "right").unwrap();
        let err = authenticate(mechanism, "alice", "wrong", Some(credential)).unwrap_err();
        assert!(matches!(err, ScramError::AuthenticationFailed), "{err}");
    }
}

#[test]
fn unknown_user_looks_like_a_wrong_password() {
    for mechanism in [Mechanism::Sha1, Mechanism::Sha256] {
        let client = TestClient::new(mechanism, "ghost", "whatever");
        let (conversation, server_first) = started(mechanism, &client, None);
        let text = String::from_utf8(server_first.clone()).unwrap();
        let salt = text.split(",s=").nth(1).unwrap().split(',').next().unwrap();
        assert_eq!(b64(salt).len(), mechanism.salt_len());
        assert!(text.ends_with(&format!(",i={}", mechanism.default_iterations())));

        // The fake salt is stable per user, like a real one, and secret-dependent.
        let (_, again) = started(mechanism, &TestClient::new(mechanism, "ghost", "x"), None);
        assert!(String::from_utf8(again).unwrap().contains(salt));
        let (_, other) = started(mechanism, &TestClient::new(mechanism, "ghost2", "x"), None);
        assert!(!String::from_utf8(other).unwrap().contains(salt));
        let first = ClientFirst::parse(&client.first()).unwrap();
        let (_, other_secret) =
            ServerConversation::start(mechanism, first, None, b"another secret");
        assert!(!String::from_utf8(other_secret).unwrap().contains(salt));

        // A well-formed final message fails exactly like a wrong password.
        let (client_final, _) = client.final_message(&server_first);
        let unknown = conversation.finish(&client_final).unwrap_err();
        let credential = StoredCredential::derive(mechanism, "alice", "right").unwrap();
        let wrong = authenticate(mechanism, "alice", "wrong", Some(credential)).unwrap_err();
        assert!(matches!(unknown, ScramError::AuthenticationFailed));
        assert_eq!(unknown.to_string(), wrong.to_string());
        assert_eq!(unknown.to_string(), "Authentication failed.");
    }
}

#[test]
fn credential_for_another_mechanism_is_treated_as_unknown() {
    let sha1 = StoredCredential::derive(Mechanism::Sha1, "alice", "pw").unwrap();
    let err = authenticate(Mechanism::Sha256, "alice", "pw", Some(sha1)).unwrap_err();
    assert!(matches!(err, ScramError::AuthenticationFailed));
}

/// Rewrites a genuine client-final message (given the client nonce).
type Tamper = fn(&str, &str) -> String;
type Expect = fn(&ScramError) -> bool;

fn nonce_of(message: &str) -> &str {
    message
        .split(",r=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
}

fn head_of(message: &str) -> &str {
    message.rsplit_once(",p=").unwrap().0
}

#[test]
fn tampered_final_messages_are_rejected() {
    let mechanism = Mechanism::Sha256;
    let credential = StoredCredential::derive(mechanism, "alice", "pw").unwrap();
    let client = TestClient::new(mechanism, "alice", "pw");
    let cases: &[(&str, Tamper, Expect)] = &[
        (
            "nonce extended",
            |m, _| m.replace(nonce_of(m), &format!("{}x", nonce_of(m))),
            |e| matches!(e, ScramError::NonceMismatch),
        ),
        (
            "nonce cut back to the client part",
            |m, client_nonce| m.replace(nonce_of(m), client_nonce),
            |e| matches!(e, ScramError::NonceMismatch),
        ),
        (
            "channel binding claims y,,",
            |m, _| m.replace("c=biws", "c=eSws"),
            |e| matches!(e, ScramError::ChannelBindingMismatch),
        ),
        (
            "channel binding not base64",
            |m, _| m.replace("c=biws", "c=!!!!"),
            |e| matches!(e, ScramError::InvalidBase64 { .. }),
        ),
        (
            "proof not base64",
            |m, _| format!("{},p=not*base64", head_of(m)),
            |e| matches!(e, ScramError::InvalidBase64 { field: "proof" }),
        ),
        (
            "proof too short",
            |m, _| format!("{},p=AAAA", head_of(m)),
            |e| matches!(e, ScramError::Malformed { .. }),
        ),
        (
            "proof bit flipped",
            |m, _| {
                let (head, proof) = m.rsplit_once(",p=").unwrap();
                let mut proof = b64(proof);
                proof[0] ^= 1;
                format!("{head},p={}", BASE64.encode(proof))
            },
            |e| matches!(e, ScramError::AuthenticationFailed),
        ),
        (
            "extension inserted before the proof",
            |m, _| {
                let (head, proof) = m.rsplit_once(",p=").unwrap();
                format!("{head},x=1,p={proof}")
            },
            // Accepted by the parser but part of the AuthMessage, so the proof breaks.
            |e| matches!(e, ScramError::AuthenticationFailed),
        ),
        (
            "no proof",
            |m, _| m.replace(",p=", ",q="),
            |e| matches!(e, ScramError::Malformed { .. }),
        ),
        (
            "no channel binding",
            |m, _| m.replacen("c=", "x=", 1),
            |e| matches!(e, ScramError::Malformed { .. }),
        ),
        (
            "no nonce",
            |m, _| m.replacen(",r=", ",s=", 1),
            |e| matches!(e, ScramError::Malformed { .. }),
        ),
    ];
    for (name, tamper, expected) in cases {
        let (conversation, server_first) = started(mechanism, &client, Some(credential.clone()));
        let (genuine, _) = client.final_message(&server_first);
        let message = tamper(std::str::from_utf8(&genuine).unwrap(), &client.nonce);
        match conversation.finish(message.as_bytes()) {
            Err(ref e) if expected(e) => {}
            other => panic!("{name}: {message:?} gave {other:?}"),
        }
    }

    // Replaying a genuine message against a new conversation (new server nonce) fails.
    let (_, server_first) = started(mechanism, &client, Some(credential.clone()));
    let (old, _) = client.final_message(&server_first);
    let (conversation, _) = started(mechanism, &client, Some(credential.clone()));
    assert!(matches!(
        conversation.finish(&old),
        Err(ScramError::NonceMismatch)
    ));

    // And the genuine message on its own conversation succeeds.
    let (conversation, server_first) = started(mechanism, &client, Some(credential));
    let (genuine, _) = client.final_message(&server_first);
    assert_eq!(conversation.finish(&genuine).unwrap().0, "alice");
}

#[test]
fn client_first_rejections() {
    let cases: &[(&[u8], Expect)] = &[
        (b"p=tls-unique,,n=user,r=abc", |e| {
            matches!(e, ScramError::ChannelBindingUnsupported)
        }),
        (b"n,a=admin,n=user,r=abc", |e| {
            matches!(e, ScramError::AuthzidUnsupported)
        }),
        (b"n,,m=ext,n=user,r=abc", |e| {
            matches!(e, ScramError::MandatoryExtension)
        }),
        (b"x,,n=user,r=abc", |e| {
            matches!(e, ScramError::Malformed { .. })
        }),
        (b"n,,n=,r=abc", |e| {
            matches!(e, ScramError::Malformed { .. })
        }),
        (b"n,,n=user,r=", |e| {
            matches!(e, ScramError::Malformed { .. })
        }),
        (b"n,,n=user", |e| matches!(e, ScramError::Malformed { .. })),
        (b"n,,r=abc,n=user", |e| {
            matches!(e, ScramError::Malformed { .. })
        }),
        (b"n,,n=user,r=ab c", |e| {
            matches!(e, ScramError::Malformed { .. })
        }),
        (b"n,,n=us\0er,r=abc", |e| {
            matches!(e, ScramError::Malformed { .. })
        }),
        (b"n,,n=user,r=\xff", |e| {
            matches!(e, ScramError::Malformed { .. })
        }),
        (b"", |e| matches!(e, ScramError::Malformed { .. })),
        (b"n", |e| matches!(e, ScramError::Malformed { .. })),
        (b"n,", |e| matches!(e, ScramError::Malformed { .. })),
    ];
    for (payload, expected) in cases {
        match ClientFirst::parse(payload) {
            Err(ref e) if expected(e) => {}
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(payload)),
        }
    }
    // Extensions after the nonce are ignored.
    let first = ClientFirst::parse(b"n,,n=user,r=abc,x=ext").unwrap();
    assert_eq!(first.username(), "user");
}

#[test]
fn y_flag_is_accepted_and_must_be_echoed() {
    let mechanism = Mechanism::Sha256;
    let credential = StoredCredential::derive(mechanism, "u", "pw").unwrap();
    let client = TestClient::new(mechanism, "u", "pw");
    let first_message = format!("y,,{}", client.first_bare);
    let first = ClientFirst::parse(first_message.as_bytes()).unwrap();
    let (conversation, server_first) =
        ServerConversation::start(mechanism, first, Some(credential), SECRET);
    // The test client writes c=biws ("n,,"), which no longer matches.
    let (client_final, _) = client.final_message(&server_first);
    assert!(matches!(
        conversation.finish(&client_final),
        Err(ScramError::ChannelBindingMismatch)
    ));
}

#[test]
fn username_escaping() {
    assert_eq!(decode_saslname("a=2Cb=3Dc").unwrap(), "a,b=c");
    assert_eq!(decode_saslname("=3D=3D=2C").unwrap(), "==,");
    assert_eq!(decode_saslname("=3D2C").unwrap(), "=2C");
    for bad in ["a=b", "a=", "=2c", "=3d", "a=2", "=", "=XY"] {
        assert!(decode_saslname(bad).is_err(), "{bad}");
    }
    // Whole round trip with a username that needs escaping.
    for mechanism in [Mechanism::Sha1, Mechanism::Sha256] {
        let name = "we,ird=name";
        let credential = StoredCredential::derive(mechanism, name, "pw").unwrap();
        assert_eq!(
            authenticate(mechanism, name, "pw", Some(credential)).unwrap(),
            name
        );
    }
}

#[test]
fn saslprep_of_non_ascii_passwords() {
    // RFC 4013 §3 examples: soft hyphen maps to nothing, U+2168 (ROMAN NUMERAL NINE)
    // normalizes to "IX", U+00AA to "a".
    let prep = |p: &str| Mechanism::Sha256.prepare_password("u", p);
    assert_eq!(prep("I\u{AD}X").unwrap(), "IX");
    assert_eq!(prep("\u{2168}").unwrap(), "IX");
    assert_eq!(prep("\u{AA}").unwrap(), "a");
    assert_eq!(prep("päßwörd").unwrap(), "päßwörd");
    assert!(matches!(prep("\u{7}"), Err(ScramError::Saslprep)));
    assert!(matches!(
        StoredCredential::derive(Mechanism::Sha256, "u", "\u{627}\u{31}"),
        Err(ScramError::Saslprep)
    ));

    // A credential created from "I<SHY>X" accepts a client that typed "\u{2168}": both
    // prepare to "IX".
    let credential = StoredCredential::derive(Mechanism::Sha256, "u", "I\u{AD}X").unwrap();
    assert_eq!(
        authenticate(Mechanism::Sha256, "u", "\u{2168}", Some(credential.clone())).unwrap(),
        "u"
    );
    assert!(authenticate(Mechanism::Sha256, "u", "IY", Some(credential)).is_err());
}

#[test]
fn stored_credential_document_round_trip() {
    for mechanism in [Mechanism::Sha1, Mechanism::Sha256] {
        let credential = StoredCredential::derive(mechanism, "alice", "pw").unwrap();
        let doc = credential.to_document();
        assert_eq!(doc.get_str("mechanism").unwrap(), mechanism.name());
        assert_eq!(
            doc.get_i32("iterationCount").unwrap() as u32,
            credential.iterations
        );
        assert_eq!(StoredCredential::from_document(&doc).unwrap(), credential);
        // The stored form authenticates.
        let restored = StoredCredential::from_document(&doc).unwrap();
        assert!(authenticate(mechanism, "alice", "pw", Some(restored)).is_ok());
    }
}

#[test]
fn stored_credential_document_validation() {
    let good = StoredCredential::derive(Mechanism::Sha1, "alice", "pw")
        .unwrap()
        .to_document();
    let with = |key: &str, value: Bson| {
        let mut doc = good.clone();
        doc.insert(key, value);
        StoredCredential::from_document(&doc)
    };
    assert!(matches!(
        with("iterationCount", Bson::Int32(4095)),
        Err(ScramError::IterationsTooLow { iterations: 4095 })
    ));
    assert!(with("iterationCount", Bson::Int64(20_000)).is_ok());
    for bad in [
        Bson::Int32(-1),
        Bson::Int64(1 << 40),
        Bson::String("x".into()),
    ] {
        assert!(matches!(
            with("iterationCount", bad),
            Err(ScramError::BadCredential { .. })
        ));
    }
    assert!(matches!(
        with("mechanism", Bson::String("SCRAM-SHA-512".into())),
        Err(ScramError::BadCredential { .. })
    ));
    assert!(matches!(
        with("salt", Bson::String("***".into())),
        Err(ScramError::BadCredential { .. })
    ));
    assert!(matches!(
        with("salt", Bson::String(String::new())),
        Err(ScramError::BadCredential { .. })
    ));
    // A SHA-256-sized key under SHA-1.
    assert!(matches!(
        with("storedKey", Bson::String(BASE64.encode([0u8; 32]))),
        Err(ScramError::BadCredential { .. })
    ));
    let mut missing = good.clone();
    missing.remove("serverKey");
    assert!(matches!(
        StoredCredential::from_document(&missing),
        Err(ScramError::BadCredential { .. })
    ));
}

#[test]
fn iteration_floor_and_fresh_salts() {
    assert!(matches!(
        StoredCredential::from_prepared_password(Mechanism::Sha256, b"pw", vec![1; 16], 4095),
        Err(ScramError::IterationsTooLow { iterations: 4095 })
    ));
    let a = StoredCredential::derive(Mechanism::Sha1, "u", "pw").unwrap();
    let b = StoredCredential::derive(Mechanism::Sha1, "u", "pw").unwrap();
    assert_ne!(a.salt, b.salt);
    assert_ne!(a.stored_key, b.stored_key);
}

#[test]
fn mechanism_names() {
    for mechanism in [Mechanism::Sha1, Mechanism::Sha256] {
        assert_eq!(Mechanism::from_name(mechanism.name()), Some(mechanism));
    }
    assert_eq!(Mechanism::from_name("SCRAM-SHA-512"), None);
    assert_eq!(Mechanism::from_name("scram-sha-256"), None);
    assert_eq!(Mechanism::from_name("PLAIN"), None);
}

#[test]
fn debug_output_hides_keys() {
    let credential = StoredCredential::derive(Mechanism::Sha256, "alice", "pw").unwrap();
    let key = format!("{:?}", credential.stored_key);
    let client = TestClient::new(Mechanism::Sha256, "alice", "pw");
    let (conversation, _) = started(Mechanism::Sha256, &client, Some(credential));
    let shown = format!("{conversation:?}");
    assert!(shown.contains("alice"));
    assert!(!shown.contains(&key));
}

/// A conversation for the fuzz tests. The keys are arbitrary (no PBKDF2 per case): no
/// random payload can produce a valid proof for them.
fn fuzz_conversation() -> ServerConversation {
    let credential = StoredCredential {
        mechanism: Mechanism::Sha1,
        iterations: 4096,
        salt: vec![7; 16],
        stored_key: vec![1; 20],
        server_key: vec![2; 20],
    };
    let first = ClientFirst::parse(b"n,,n=user,r=abc").unwrap();
    ServerConversation::start_with_nonce(Mechanism::Sha1, first, Some(credential), SECRET, "def").0
}

fn scram_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        "[nypcr=,a-z0-9+/=]{0,48}".prop_map(String::into_bytes),
        "(n|y|p=x),(a=u)?,(m=x,)?n=[a-z=23CD,]{0,8},r=[!-~]{0,8}(,p=[A-Za-z0-9+/=]{0,30})?"
            .prop_map(String::into_bytes),
        "c=(biws|eSws|!!),r=abc(def)?,p=[A-Za-z0-9+/=]{0,32}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn garbage_never_panics(payload in scram_like()) {
        let _ = ClientFirst::parse(&payload);
        prop_assert!(fuzz_conversation().finish(&payload).is_err());
    }
}
