//! Authentication for MongoDB clients. SCRAM (SHA-1 and SHA-256) is what every driver in
//! scope speaks with `saslStart` / `saslContinue`.

pub mod scram;

pub use scram::{ClientFirst, Mechanism, ScramError, ServerConversation, StoredCredential};
