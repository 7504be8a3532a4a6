//! MongoDB's total order over BSON values ("Comparison/Sort Order" in the manual). Values of
//! different types are ordered by type bracket first:
//!
//! MinKey < Null (and Undefined) < Numbers < String/Symbol < Object < Array < BinData < ObjectId
//! < Boolean < Date < Timestamp < Regular Expression < DBPointer < JavaScript < JavaScript with
//! scope < MaxKey
//!
//! Numbers compare numerically across Int32, Int64, Double and Decimal128 (NaN lowest), strings
//! by their UTF-8 bytes, documents field by field (type bracket, then name, then value) and
//! arrays element by element, a shorter prefix first.

use std::cmp::Ordering;

use bson::{Binary, Bson, DbPointer, Document};

use super::number::Number;

/// Orders two values the way MongoDB sorts and compares them.
pub fn compare(a: &Bson, b: &Bson) -> Ordering {
    bracket(a)
        .cmp(&bracket(b))
        .then_with(|| compare_same_bracket(a, b))
}

/// MongoDB equality: `compare(a, b) == Equal`, so `1 == 1.0 == Int64(1)`.
pub fn equal(a: &Bson, b: &Bson) -> bool {
    compare(a, b) == Ordering::Equal
}

/// Orders two documents as values (field order matters, as in MongoDB).
pub fn compare_documents(a: &Document, b: &Document) -> Ordering {
    compare_sequences(a.iter(), b.iter())
}

/// The type bracket ("canonical type") of a value; values in different brackets never compare
/// equal, and the query operators only compare values within one bracket.
pub(crate) fn bracket(value: &Bson) -> u8 {
    match value {
        Bson::MinKey => 0,
        Bson::Null | Bson::Undefined => 1,
        Bson::Int32(_) | Bson::Int64(_) | Bson::Double(_) | Bson::Decimal128(_) => 2,
        Bson::String(_) | Bson::Symbol(_) => 3,
        Bson::Document(_) => 4,
        Bson::Array(_) => 5,
        Bson::Binary(_) => 6,
        Bson::ObjectId(_) => 7,
        Bson::Boolean(_) => 8,
        Bson::DateTime(_) => 9,
        Bson::Timestamp(_) => 10,
        Bson::RegularExpression(_) => 11,
        Bson::DbPointer(_) => 12,
        Bson::JavaScriptCode(_) => 13,
        Bson::JavaScriptCodeWithScope(_) => 14,
        Bson::MaxKey => 15,
    }
}

/// Byte-for-byte sameness: same type, same value bits, same field order. This is what MongoDB uses
/// to decide whether an update modified a document (so `1` → `1.0` is a change) and whether `_id`
/// was altered.
pub(crate) fn identical(a: &Bson, b: &Bson) -> bool {
    match (a, b) {
        (Bson::Double(x), Bson::Double(y)) => x.to_bits() == y.to_bits(),
        (Bson::Document(x), Bson::Document(y)) => identical_documents(x, y),
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| identical(x, y))
        }
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => {
            x.code == y.code && identical_documents(&x.scope, &y.scope)
        }
        _ => std::mem::discriminant(a) == std::mem::discriminant(b) && a == b,
    }
}

pub(crate) fn identical_documents(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|((ka, va), (kb, vb))| ka == kb && identical(va, vb))
}

fn compare_same_bracket(a: &Bson, b: &Bson) -> Ordering {
    match (a, b) {
        (Bson::String(x) | Bson::Symbol(x), Bson::String(y) | Bson::Symbol(y)) => {
            x.as_bytes().cmp(y.as_bytes())
        }
        (Bson::Document(x), Bson::Document(y)) => compare_documents(x, y),
        (Bson::Array(x), Bson::Array(y)) => compare_arrays(x, y),
        (Bson::Binary(x), Bson::Binary(y)) => compare_binary(x, y),
        (Bson::ObjectId(x), Bson::ObjectId(y)) => x.bytes().cmp(&y.bytes()),
        (Bson::Boolean(x), Bson::Boolean(y)) => x.cmp(y),
        (Bson::DateTime(x), Bson::DateTime(y)) => x.timestamp_millis().cmp(&y.timestamp_millis()),
        (Bson::Timestamp(x), Bson::Timestamp(y)) => {
            (x.time, x.increment).cmp(&(y.time, y.increment))
        }
        (Bson::RegularExpression(x), Bson::RegularExpression(y)) => x
            .pattern
            .as_bytes()
            .cmp(y.pattern.as_bytes())
            .then_with(|| x.options.as_bytes().cmp(y.options.as_bytes())),
        (Bson::DbPointer(x), Bson::DbPointer(y)) => compare_db_pointers(x, y),
        (Bson::JavaScriptCode(x), Bson::JavaScriptCode(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Bson::JavaScriptCodeWithScope(x), Bson::JavaScriptCodeWithScope(y)) => x
            .code
            .as_bytes()
            .cmp(y.code.as_bytes())
            .then_with(|| compare_documents(&x.scope, &y.scope)),
        _ => match (Number::of(a), Number::of(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            // MinKey, MaxKey, Null and Undefined are all equal within their bracket.
            _ => Ordering::Equal,
        },
    }
}

fn compare_arrays(a: &[Bson], b: &[Bson]) -> Ordering {
    // An array compares like a document whose keys are "0", "1", …; equal positions have equal
    // keys, so only brackets and values matter.
    for (x, y) in a.iter().zip(b) {
        let order = compare(x, y);
        if order != Ordering::Equal {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

fn compare_sequences<'a>(
    mut a: impl Iterator<Item = (&'a String, &'a Bson)>,
    mut b: impl Iterator<Item = (&'a String, &'a Bson)>,
) -> Ordering {
    loop {
        match (a.next(), b.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some((ka, va)), Some((kb, vb))) => {
                let order = bracket(va)
                    .cmp(&bracket(vb))
                    .then_with(|| ka.as_bytes().cmp(kb.as_bytes()))
                    .then_with(|| compare_same_bracket(va, vb));
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

fn compare_binary(a: &Binary, b: &Binary) -> Ordering {
    // "first, the length or size of the data; then, by the BSON one-byte subtype; finally, by
    // the data, performing a byte-by-byte comparison."
    a.bytes
        .len()
        .cmp(&b.bytes.len())
        .then_with(|| u8::from(a.subtype).cmp(&u8::from(b.subtype)))
        .then_with(|| a.bytes.cmp(&b.bytes))
}

/// DBPointer (deprecated) compares by namespace length, then namespace and id bytes. The bson
/// crate keeps its fields private, so they are read back from the value's encoding.
fn compare_db_pointers(a: &DbPointer, b: &DbPointer) -> Ordering {
    db_pointer_key(a).cmp(&db_pointer_key(b))
}

fn db_pointer_key(pointer: &DbPointer) -> (u32, Vec<u8>) {
    let mut holder = Document::new();
    holder.insert("", Bson::DbPointer(pointer.clone()));
    let mut bytes = Vec::new();
    if holder.to_writer(&mut bytes).is_err() {
        return (0, Vec::new());
    }
    // Layout: i32 document length, type byte, "" key terminator, i32 namespace length, then the
    // namespace (NUL-terminated) and the 12 id bytes, then the document terminator.
    let length = bytes
        .get(6..10)
        .and_then(|raw| raw.try_into().ok())
        .map_or(0, u32::from_le_bytes);
    let rest = bytes
        .get(10..bytes.len().saturating_sub(1))
        .unwrap_or_default();
    (length, rest.to_vec())
}

#[cfg(test)]
mod tests;
