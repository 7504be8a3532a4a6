//! Pending writes of a job and of a batch, read through before the committed store.

use bson::Document;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Writes not yet committed: per polodb collection, key → new document (`None` = deleted), plus
/// collections whose committed content is to be ignored (dropped).
#[derive(Default)]
pub(super) struct Overlay {
    pub(super) writes: HashMap<String, BTreeMap<String, Option<Document>>>,
    pub(super) cleared: HashSet<String>,
}

/// What the overlay knows about one key.
pub(super) enum Lookup<'a> {
    Written(Option<&'a Document>),
    Cleared,
    Unknown,
}

impl Overlay {
    pub(super) fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.cleared.is_empty()
    }

    pub(super) fn lookup(&self, collection: &str, key: &str) -> Lookup<'_> {
        if let Some(doc) = self.writes.get(collection).and_then(|w| w.get(key)) {
            return Lookup::Written(doc.as_ref());
        }
        if self.cleared.contains(collection) {
            Lookup::Cleared
        } else {
            Lookup::Unknown
        }
    }

    pub(super) fn put(&mut self, collection: &str, key: String, doc: Option<Document>) {
        self.writes
            .entry(collection.to_string())
            .or_default()
            .insert(key, doc);
    }

    pub(super) fn clear(&mut self, collection: &str) {
        self.writes.remove(collection);
        self.cleared.insert(collection.to_string());
    }

    /// Layer `newer` (a finished job) on top of `self` (its batch).
    pub(super) fn absorb(&mut self, newer: Overlay) {
        for collection in newer.cleared {
            self.writes.remove(&collection);
            self.cleared.insert(collection);
        }
        for (collection, writes) in newer.writes {
            self.writes.entry(collection).or_default().extend(writes);
        }
    }

    /// Apply this overlay to `docs` (key → document) of `collection`.
    pub(super) fn apply_to(&self, collection: &str, docs: &mut BTreeMap<String, Document>) {
        if self.cleared.contains(collection) {
            docs.clear();
        }
        if let Some(writes) = self.writes.get(collection) {
            for (key, doc) in writes {
                match doc {
                    Some(doc) => docs.insert(key.clone(), doc.clone()),
                    None => docs.remove(key),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::doc;

    #[test]
    fn newer_writes_win_and_clears_drop_older_writes() {
        let mut batch = Overlay::default();
        batch.put("c1", "a".into(), Some(doc! {"v": 1}));
        batch.put("c2", "a".into(), Some(doc! {"v": 1}));
        let mut job = Overlay::default();
        job.put("c1", "a".into(), Some(doc! {"v": 2}));
        job.clear("c2");
        job.put("c2", "b".into(), Some(doc! {"v": 3}));
        batch.absorb(job);

        assert!(matches!(batch.lookup("c1", "a"), Lookup::Written(Some(d)) if d == &doc!{"v": 2}));
        assert!(matches!(batch.lookup("c2", "a"), Lookup::Cleared));
        let mut committed = BTreeMap::from([("z".to_string(), doc! {"old": true})]);
        batch.apply_to("c2", &mut committed);
        assert_eq!(committed.keys().collect::<Vec<_>>(), vec!["b"]);
    }
}
