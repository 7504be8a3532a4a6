//! redhive's query engine: MongoDB query semantics over `bson::Document`, with no storage of its
//! own. The store only keeps documents by `_id`; everything a client can express — filters,
//! updates, projections, sorts and aggregation pipelines — is evaluated here.
//!
//! Correctness is measured against MongoDB: where redhive does not implement something it
//! returns a `QueryError` saying so ("not supported by redhive") rather than a different answer.

pub mod aggregate;
pub mod compare;
pub mod distinct;
pub mod error;
pub mod filter;
pub mod path;
pub mod projection;
pub mod sort;
pub mod update;

mod bson_type;
mod decimal;
mod expr;
mod number;
mod pattern;

pub use aggregate::run_pipeline;
pub use compare::{compare, equal};
pub use distinct::distinct;
pub use error::QueryError;
pub use filter::Filter;
pub use path::{distinct_values, lookup};
pub use projection::Projection;
pub use sort::SortSpec;
pub use update::{Update, UpdateOperators};
