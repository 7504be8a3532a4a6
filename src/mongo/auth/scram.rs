//! The server side of SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677) as MongoDB runs
//! it over `saslStart` / `saslContinue`.
//!
//! MongoDB differs from the plain RFCs in what it feeds in as the password: SCRAM-SHA-1 uses
//! the hex MD5 of `"<user>:mongo:<password>"` (its legacy `digestPassword`), SCRAM-SHA-256 the
//! SASLprep'd password. Only the derived keys are ever stored.
//!
//! Client messages are hostile input: parsing never indexes, unwraps or panics, and the
//! lints below keep it that way.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bson::{doc, Bson, Document};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rand::RngCore;
use sha1::Sha1;
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

#[cfg(test)]
mod tests;

/// Clients refuse fewer. MongoDB auth spec (`source/auth/auth.md`): "drivers MUST enforce a
/// minimum iteration count of 4096 and MUST error if the authentication conversation
/// specifies a lower count."
pub const MIN_ITERATIONS: u32 = 4096;

/// Random bytes behind the client nonce; MongoDB's server also appends 24 (base64-encoded).
const SERVER_NONCE_LEN: usize = 24;

/// Mixed into the fake-salt HMAC so the secret can't be used to compute anything else.
const FAKE_SALT_LABEL: &[u8] = b"redhive SCRAM fake salt\0";

/// A SCRAM mechanism MongoDB supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Sha1,
    Sha256,
}

impl Mechanism {
    /// The SASL mechanism name a client sends in `saslStart.mechanism`.
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "SCRAM-SHA-1" => Some(Mechanism::Sha1),
            "SCRAM-SHA-256" => Some(Mechanism::Sha256),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Sha1 => "SCRAM-SHA-1",
            Mechanism::Sha256 => "SCRAM-SHA-256",
        }
    }

    /// MongoDB's defaults (`scramIterationCount` 10000, `scramSHA256IterationCount` 15000).
    pub fn default_iterations(self) -> u32 {
        match self {
            Mechanism::Sha1 => 10_000,
            Mechanism::Sha256 => 15_000,
        }
    }

    /// MongoDB's salt lengths: 16 bytes for SHA-1, 28 for SHA-256. The fake salt for unknown
    /// users has the same length, so salt size reveals nothing.
    fn salt_len(self) -> usize {
        match self {
            Mechanism::Sha1 => 16,
            Mechanism::Sha256 => 28,
        }
    }

    fn hash_len(self) -> usize {
        match self {
            Mechanism::Sha1 => 20,
            Mechanism::Sha256 => 32,
        }
    }

    /// RFC 5802 `H(str)`.
    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Mechanism::Sha1 => Sha1::digest(data).to_vec(),
            Mechanism::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// RFC 5802 `HMAC(key, str)`. HMAC takes keys of any length, so `new_from_slice` does
    /// not fail in practice; its signature is fallible only because `Mac` also covers
    /// fixed-key MACs, and the error is passed on rather than unwrapped.
    fn hmac(self, key: &[u8], data: &[u8]) -> Result<Vec<u8>, ScramError> {
        fn run<M: Mac + hmac::digest::KeyInit>(
            key: &[u8],
            data: &[u8],
        ) -> Result<Vec<u8>, ScramError> {
            let mut mac = <M as Mac>::new_from_slice(key)
                .map_err(|_| ScramError::Crypto("HMAC rejected its key"))?;
            mac.update(data);
            Ok(mac.finalize().into_bytes().to_vec())
        }
        match self {
            Mechanism::Sha1 => run::<Hmac<Sha1>>(key, data),
            Mechanism::Sha256 => run::<Hmac<Sha256>>(key, data),
        }
    }

    /// RFC 5802 `Hi(str, salt, i)`: "Hi() is, essentially, PBKDF2 [RFC2898] with HMAC() as
    /// the pseudorandom function (PRF) and with dkLen == output length of HMAC() == output
    /// length of H()."
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.hash_len()];
        self.pbkdf2(password, salt, iterations, &mut out);
        out
    }

    fn pbkdf2(self, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
        match self {
            Mechanism::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, out),
            Mechanism::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, out),
        }
    }

    /// Turn the user's password into the string SCRAM actually hashes, as MongoDB does.
    fn prepare_password(self, username: &str, password: &str) -> Result<String, ScramError> {
        match self {
            // MongoDB auth spec: "The `password` variable MUST be the mongodb hashed variant
            // ... `hash = HEX( MD5( UTF8( username + ':mongo:' + plain_text_password )))`
            // ... The `username` and `password` MUST NOT be prepared with SASLprep".
            Mechanism::Sha1 => {
                let digest = Md5::digest(format!("{username}:mongo:{password}").as_bytes());
                Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
            }
            // RFC 7677 §4 / RFC 5802 §2.2: "Normalize(str): Apply the SASLprep profile
            // [RFC4013] of the "stringprep" algorithm [RFC3454] as the normalization
            // algorithm to a UTF-8 [RFC3629] encoded "str"."
            Mechanism::Sha256 => stringprep::saslprep(password)
                .map(|p| p.into_owned())
                .map_err(|_| ScramError::Saslprep),
        }
    }
}

/// Why a SCRAM exchange or credential was rejected.
///
/// Every message is the same whether or not the user exists: an unknown user goes through
/// the whole exchange on a fake salt and ends in [`ScramError::AuthenticationFailed`], exactly
/// like a wrong password. Messages never quote the username or password.
#[derive(Debug, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM {message} message: {reason}")]
    Malformed {
        message: &'static str,
        reason: &'static str,
    },
    #[error("SCRAM channel binding is not supported")]
    ChannelBindingUnsupported,
    #[error("SCRAM channel binding data does not match the client-first message")]
    ChannelBindingMismatch,
    #[error("SCRAM authorization identity (authzid) is not supported")]
    AuthzidUnsupported,
    #[error("SCRAM mandatory extensions are not supported")]
    MandatoryExtension,
    #[error("SCRAM nonce does not match the one this conversation issued")]
    NonceMismatch,
    #[error("invalid base64 in SCRAM {field}")]
    InvalidBase64 { field: &'static str },
    /// The one outcome for both a wrong password and an unknown user; the text is MongoDB's.
    #[error("Authentication failed.")]
    AuthenticationFailed,
    #[error("password is not valid under SASLprep (RFC 4013)")]
    Saslprep,
    #[error("SCRAM iteration count {iterations} is below the minimum of {MIN_ITERATIONS}")]
    IterationsTooLow { iterations: u32 },
    #[error("invalid stored SCRAM credential: {reason}")]
    BadCredential { reason: String },
    #[error("SCRAM cryptographic failure: {0}")]
    Crypto(&'static str),
}

fn malformed(message: &'static str, reason: &'static str) -> ScramError {
    ScramError::Malformed { message, reason }
}

/// What the user store keeps for one user and mechanism. It is enough to verify a client
/// (StoredKey) and to prove ourselves to it (ServerKey), but not to impersonate the user.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCredential {
    pub mechanism: Mechanism,
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl StoredCredential {
    /// Derive a credential from a cleartext password with a fresh random salt and MongoDB's
    /// default iteration count, preparing the password the way MongoDB does.
    pub fn derive(
        mechanism: Mechanism,
        username: &str,
        password: &str,
    ) -> Result<StoredCredential, ScramError> {
        let prepared = mechanism.prepare_password(username, password)?;
        let mut salt = vec![0u8; mechanism.salt_len()];
        // ThreadRng is a CSPRNG seeded (and periodically reseeded) from the OS.
        rand::thread_rng().fill_bytes(&mut salt);
        Self::from_prepared_password(
            mechanism,
            prepared.as_bytes(),
            salt,
            mechanism.default_iterations(),
        )
    }

    /// RFC 5802 §3 key derivation from an already prepared password:
    /// "SaltedPassword := Hi(Normalize(password), salt, i); ClientKey := HMAC(SaltedPassword,
    /// "Client Key"); StoredKey := H(ClientKey); ServerKey := HMAC(SaltedPassword, "Server Key")".
    fn from_prepared_password(
        mechanism: Mechanism,
        prepared_password: &[u8],
        salt: Vec<u8>,
        iterations: u32,
    ) -> Result<StoredCredential, ScramError> {
        if iterations < MIN_ITERATIONS {
            return Err(ScramError::IterationsTooLow { iterations });
        }
        let salted = mechanism.salted_password(prepared_password, &salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key")?;
        Ok(StoredCredential {
            mechanism,
            iterations,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(&salted, b"Server Key")?,
            salt,
        })
    }

    /// The storage form. Field names and base64 strings follow MongoDB's own
    /// `admin.system.users` `credentials.<mechanism>` documents, plus the mechanism name so a
    /// document stands on its own.
    pub fn to_document(&self) -> Document {
        doc! {
            "mechanism": self.mechanism.name(),
            "iterationCount": Bson::from(self.iterations),
            "salt": BASE64.encode(&self.salt),
            "storedKey": BASE64.encode(&self.stored_key),
            "serverKey": BASE64.encode(&self.server_key),
        }
    }

    /// Read back what [`StoredCredential::to_document`] wrote, validating it: a corrupt
    /// credential must fail loudly here rather than as a confusing authentication failure.
    pub fn from_document(doc: &Document) -> Result<StoredCredential, ScramError> {
        let bad = |reason: &str| ScramError::BadCredential {
            reason: reason.to_owned(),
        };
        let string = |field: &'static str| {
            doc.get_str(field)
                .map_err(|_| bad(&format!("{field} is missing or not a string")))
        };
        let bytes = |field: &'static str| {
            BASE64
                .decode(string(field)?)
                .map_err(|_| bad(&format!("{field} is not valid base64")))
        };
        let mechanism =
            Mechanism::from_name(string("mechanism")?).ok_or_else(|| bad("unknown mechanism"))?;
        let iterations = match doc.get("iterationCount") {
            Some(Bson::Int32(i)) => u32::try_from(*i).ok(),
            Some(Bson::Int64(i)) => u32::try_from(*i).ok(),
            _ => None,
        }
        .ok_or_else(|| bad("iterationCount is missing or not a positive integer"))?;
        if iterations < MIN_ITERATIONS {
            return Err(ScramError::IterationsTooLow { iterations });
        }
        let salt = bytes("salt")?;
        if salt.is_empty() {
            return Err(bad("salt is empty"));
        }
        let stored_key = bytes("storedKey")?;
        let server_key = bytes("serverKey")?;
        if stored_key.len() != mechanism.hash_len() || server_key.len() != mechanism.hash_len() {
            return Err(bad("key length does not match the mechanism's hash"));
        }
        Ok(StoredCredential {
            mechanism,
            iterations,
            salt,
            stored_key,
            server_key,
        })
    }
}

/// The parsed client-first message. The server reads the username from it, looks the user
/// up, then passes both to [`ServerConversation::start`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFirst {
    /// The GS2 header exactly as sent (`n,,` or `y,,`); the client-final `c=` must echo it.
    gs2_header: String,
    /// "client-first-message-bare", the first part of the AuthMessage.
    bare: String,
    username: String,
    nonce: String,
}

impl ClientFirst {
    /// Parse `gs2-header client-first-message-bare` (RFC 5802 §7):
    /// `gs2-cbind-flag "," [ authzid ] "," [reserved-mext ","] username "," nonce ["," extensions]`.
    pub fn parse(payload: &[u8]) -> Result<ClientFirst, ScramError> {
        const MSG: &str = "client-first";
        let text = std::str::from_utf8(payload).map_err(|_| malformed(MSG, "not UTF-8"))?;
        let (cbind_flag, rest) = text
            .split_once(',')
            .ok_or_else(|| malformed(MSG, "missing GS2 header"))?;
        match cbind_flag {
            // "n" = the client does not support channel binding; "y" = it does but thinks
            // the server does not. RFC 5802 §6: with "y" a server that supports channel
            // binding MUST fail (a downgrade), but we never offer the -PLUS mechanisms, so
            // both are honest here.
            "n" | "y" => {}
            flag if flag.starts_with("p=") => return Err(ScramError::ChannelBindingUnsupported),
            _ => return Err(malformed(MSG, "invalid gs2-cbind-flag")),
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or_else(|| malformed(MSG, "missing GS2 header"))?;
        // MongoDB drivers never send one; authorization is decided by the command layer.
        if !authzid.is_empty() {
            return Err(ScramError::AuthzidUnsupported);
        }
        let mut attributes = bare.split(',');
        let first = attributes.next().unwrap_or_default();
        // RFC 5802 §5.1 "m: This attribute is reserved for future extensibility. In this
        // version of SCRAM, its presence in a client or a server message MUST cause
        // authentication failure when the attribute is parsed by the other end."
        if first.starts_with("m=") {
            return Err(ScramError::MandatoryExtension);
        }
        let encoded_username = first
            .strip_prefix("n=")
            .ok_or_else(|| malformed(MSG, "expected n=<username>"))?;
        let username = decode_saslname(encoded_username)?;
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(|| malformed(MSG, "expected r=<nonce>"))?;
        // "c-nonce = printable"; "printable = %x21-2B / %x2D-7E ;; Printable ASCII except ","."
        if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(malformed(MSG, "nonce is empty or not printable ASCII"));
        }
        // Further attributes are optional extensions, which RFC 5802 lets a server ignore.
        Ok(ClientFirst {
            gs2_header: format!("{cbind_flag},,"),
            bare: bare.to_owned(),
            username,
            nonce: nonce.to_owned(),
        })
    }

    /// The decoded username (SCRAM escapes undone). Not SASLprep'd: the MongoDB auth spec
    /// says "User names MUST NOT be prepared with SASLprep".
    pub fn username(&self) -> &str {
        &self.username
    }
}

/// RFC 5802 §5.1: "The characters ',' or '=' in usernames are sent as '=2C' and '=3D'
/// respectively. If the server receives a username that contains '=' not followed by either
/// '2C' or '3D', then the server MUST fail the authentication."
fn decode_saslname(encoded: &str) -> Result<String, ScramError> {
    const MSG: &str = "client-first";
    let mut parts = encoded.split('=');
    let mut username = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        if let Some(tail) = part.strip_prefix("2C") {
            username.push(',');
            username.push_str(tail);
        } else if let Some(tail) = part.strip_prefix("3D") {
            username.push('=');
            username.push_str(tail);
        } else {
            return Err(malformed(MSG, "invalid '=' escape in username"));
        }
    }
    // "saslname = 1*(value-safe-char / "=2C" / "=3D")", and value-safe-char excludes NUL.
    if username.is_empty() || username.contains('\0') {
        return Err(malformed(MSG, "username is empty or contains NUL"));
    }
    Ok(username)
}

/// A SCRAM conversation after the server-first message went out.
pub struct ServerConversation {
    mechanism: Mechanism,
    first: ClientFirst,
    server_first: String,
    /// client nonce + server nonce; the client-final `r=` must match it exactly.
    nonce: String,
    credential: StoredCredential,
    /// False when `credential` is a stand-in for an unknown user: verification still runs
    /// in full, but can only fail.
    user_known: bool,
}

impl fmt::Debug for ServerConversation {
    // Hand-written so keys never end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConversation")
            .field("mechanism", &self.mechanism)
            .field("username", &self.first.username)
            .finish_non_exhaustive()
    }
}

impl ServerConversation {
    /// Answer the client-first message. `credential` None means the user is unknown (or has
    /// no credential for this mechanism): the reply then carries a fake salt derived from
    /// the username and `fake_salt_secret`, stable across attempts like a real one, and
    /// [`ServerConversation::finish`] fails. Returns the conversation and the server-first
    /// payload.
    pub fn start(
        mechanism: Mechanism,
        first: ClientFirst,
        credential: Option<StoredCredential>,
        fake_salt_secret: &[u8],
    ) -> (ServerConversation, Vec<u8>) {
        let mut random = [0u8; SERVER_NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut random);
        Self::start_with_nonce(
            mechanism,
            first,
            credential,
            fake_salt_secret,
            &BASE64.encode(random),
        )
    }

    /// [`ServerConversation::start`] with a chosen server nonce, so the RFC test vectors can
    /// be replayed.
    fn start_with_nonce(
        mechanism: Mechanism,
        first: ClientFirst,
        credential: Option<StoredCredential>,
        fake_salt_secret: &[u8],
        server_nonce: &str,
    ) -> (ServerConversation, Vec<u8>) {
        let (credential, user_known) = match credential {
            Some(credential) if credential.mechanism == mechanism => (credential, true),
            _ => (
                fake_credential(mechanism, &first.username, fake_salt_secret),
                false,
            ),
        };
        // The combined nonce must start with the client's: RFC 5802 §5.1 "The client MUST
        // verify that the initial part of the nonce used in subsequent messages is the same
        // as the nonce it initially specified", and pymongo and the Node driver do check.
        let nonce = format!("{}{server_nonce}", first.nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        let payload = server_first.clone().into_bytes();
        let conversation = ServerConversation {
            mechanism,
            first,
            server_first,
            nonce,
            credential,
            user_known,
        };
        (conversation, payload)
    }

    /// Verify the client-final message (`c=<gs2>,r=<nonce>[,ext],p=<proof>`). On success
    /// returns the authenticated username and the server-final payload `v=<ServerSignature>`.
    pub fn finish(self, client_final: &[u8]) -> Result<(String, Vec<u8>), ScramError> {
        const MSG: &str = "client-final";
        let text = std::str::from_utf8(client_final).map_err(|_| malformed(MSG, "not UTF-8"))?;
        // "client-final-message = client-final-message-without-proof "," proof": the proof
        // is last, and base64 has no ',', so the last ",p=" splits it off.
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| malformed(MSG, "missing p=<proof>"))?;
        let mut attributes = without_proof.split(',');
        let channel_binding = attributes
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or_else(|| malformed(MSG, "expected c=<channel binding>"))?;
        let channel_binding =
            BASE64
                .decode(channel_binding)
                .map_err(|_| ScramError::InvalidBase64 {
                    field: "channel binding",
                })?;
        // "c: This REQUIRED attribute specifies the base64-encoded GS2 header and channel
        // binding data." Without channel binding that is just the GS2 header, so `c=biws`
        // (base64 "n,,") for the usual "n,," first message.
        if channel_binding != self.first.gs2_header.as_bytes() {
            return Err(ScramError::ChannelBindingMismatch);
        }
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(|| malformed(MSG, "expected r=<nonce>"))?;
        // RFC 5802 §5.1: "The server MUST verify that the nonce sent by the client in the
        // second message is the same as the one sent by the server in its first message."
        if nonce != self.nonce {
            return Err(ScramError::NonceMismatch);
        }
        let proof = BASE64
            .decode(proof)
            .map_err(|_| ScramError::InvalidBase64 { field: "proof" })?;
        if proof.len() != self.mechanism.hash_len() {
            return Err(malformed(MSG, "proof length does not match the hash"));
        }

        // RFC 5802 §3: "AuthMessage := client-first-message-bare + "," +
        // server-first-message + "," + client-final-message-without-proof";
        // "ClientSignature := HMAC(StoredKey, AuthMessage)"; "ClientProof := ClientKey XOR
        // ClientSignature"; "The server authenticates the client by computing the
        // ClientSignature, exclusive-ORing that with the ClientProof to recover the
        // ClientKey and verifying the correctness of the ClientKey by applying the hash
        // function and comparing the result to the StoredKey."
        let auth_message = format!("{},{},{without_proof}", self.first.bare, self.server_first);
        let mechanism = self.mechanism;
        let client_signature =
            mechanism.hmac(&self.credential.stored_key, auth_message.as_bytes())?;
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        // Constant time, and the same work for unknown users, so neither timing nor the
        // answer tells a wrong password from a missing user.
        let verified = mechanism
            .hash(&client_key)
            .ct_eq(&self.credential.stored_key)
            & Choice::from(u8::from(self.user_known));
        if !bool::from(verified) {
            return Err(ScramError::AuthenticationFailed);
        }
        // "ServerSignature := HMAC(ServerKey, AuthMessage)", sent as "v=" so the client
        // knows it talked to a server holding its credential.
        let server_signature =
            mechanism.hmac(&self.credential.server_key, auth_message.as_bytes())?;
        let server_final = format!("v={}", BASE64.encode(server_signature)).into_bytes();
        Ok((self.first.username, server_final))
    }
}

/// The stand-in credential for an unknown user. Its salt is a keyed function of the
/// username, so repeated attempts see the same salt, as they would for a real user, and
/// nobody without the secret can predict it: PBKDF2 with one iteration is
/// HMAC(secret, label || mechanism || username || INT(1)), a PRF, truncated to the real salt
/// length. The keys are zero; `user_known = false` makes the final check fail regardless.
fn fake_credential(mechanism: Mechanism, username: &str, secret: &[u8]) -> StoredCredential {
    let mut input = FAKE_SALT_LABEL.to_vec();
    input.extend_from_slice(mechanism.name().as_bytes());
    input.push(0);
    input.extend_from_slice(username.as_bytes());
    let mut salt = vec![0u8; mechanism.salt_len()];
    mechanism.pbkdf2(secret, &input, 1, &mut salt);
    StoredCredential {
        mechanism,
        iterations: mechanism.default_iterations(),
        salt,
        stored_key: vec![0; mechanism.hash_len()],
        server_key: vec![0; mechanism.hash_len()],
    }
}
