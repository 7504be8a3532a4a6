//! The `distinct` command's value collection.

use bson::{Bson, Document};

use super::compare::{compare, equal};
use super::path::distinct_values;

/// The distinct values of `key` over `docs`, in BSON order (MongoDB gathers them in an ordered
/// set). Array fields contribute their elements; 1, 1.0 and Int64(1) count once (the first
/// one seen is kept); documents without the field contribute nothing.
pub fn distinct(docs: &[Document], key: &str) -> Vec<Bson> {
    let mut values: Vec<&Bson> = docs
        .iter()
        .flat_map(|doc| distinct_values(doc, key))
        .collect();
    // Stable, so among equal values the first seen comes first and survives the dedup.
    values.sort_by(|a, b| compare(a, b));
    values.dedup_by(|later, earlier| equal(later, earlier));
    values.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use bson::{bson, doc, Bson};

    use super::*;

    #[test]
    fn sorted_unique_values() {
        let docs = vec![
            doc! {"a": 2},
            doc! {"a": [1, "x", 2.0]},
            doc! {"b": 1},
            doc! {"a": null},
            doc! {"a": Bson::Int64(1)},
            doc! {"a": {"k": 1}},
        ];
        assert_eq!(
            distinct(&docs, "a"),
            vec![Bson::Null, bson!(1), bson!(2), bson!("x"), bson!({"k": 1})]
        );
        assert_eq!(distinct(&docs, "zz"), Vec::<Bson>::new());
    }
}
