//! Creating SCRAM users: shared by the createUser command and tenant provisioning.

use super::auth::scram::{Mechanism, ScramError, StoredCredential};
use crate::store::UserRecord;
use bson::{doc, Document};
use rand::distributions::Alphanumeric;
use rand::Rng;

/// Length of generated passwords: 32 alphanumerics ≈ 190 bits, and safe in a URL unescaped.
const GENERATED_PASSWORD_LEN: usize = 32;

/// A user record with salted keys for both SCRAM mechanisms. Slow on purpose (PBKDF2 with
/// MongoDB's iteration counts): call it off the async threads.
pub fn new_record(
    db: &str,
    user: &str,
    password: &str,
    roles: Vec<Document>,
) -> Result<UserRecord, ScramError> {
    Ok(UserRecord {
        db: db.to_string(),
        user: user.to_string(),
        roles,
        credentials: credentials(user, password)?,
    })
}

/// Stored credentials for both mechanisms, keyed by mechanism name.
pub fn credentials(user: &str, password: &str) -> Result<Document, ScramError> {
    let mut credentials = Document::new();
    for mechanism in [Mechanism::Sha1, Mechanism::Sha256] {
        let credential = StoredCredential::derive(mechanism, user, password)?;
        credentials.insert(mechanism.name(), credential.to_document());
    }
    Ok(credentials)
}

/// The role a tenant user gets: readWrite on its own database.
pub fn read_write_role(db: &str) -> Document {
    doc! {"role": "readWrite", "db": db}
}

pub fn root_role() -> Document {
    doc! {"role": "root", "db": "admin"}
}

pub fn generate_password() -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(GENERATED_PASSWORD_LEN)
        .map(char::from)
        .collect()
}
