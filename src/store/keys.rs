//! Canonical keys for documents and unique-index entries.
//!
//! polodb keys only scalar `_id`s and tells `Int32(1)` from `Double(1.0)`, while MongoDB treats
//! every numeric type as one value. We therefore give polodb a string key of our own making:
//! one string per MongoDB-equal value, so duplicate detection is a plain key lookup.

use bson::Bson;

/// The store key of a document's `_id`, or of one component of an index key.
pub fn encode(value: &Bson) -> String {
    let mut out = String::new();
    push(&mut out, value);
    out
}

/// The store key of a (possibly compound) unique-index entry. Components are length-prefixed so
/// that no choice of values can make two different tuples collide.
pub fn encode_tuple<'a>(values: impl IntoIterator<Item = &'a Bson>) -> String {
    let mut out = String::new();
    for value in values {
        let part = encode(value);
        out.push_str(&part.len().to_string());
        out.push(':');
        out.push_str(&part);
    }
    out
}

fn push(out: &mut String, value: &Bson) {
    match value {
        Bson::Null | Bson::Undefined => out.push('z'),
        Bson::Int32(n) => push_integer(out, i64::from(*n)),
        Bson::Int64(n) => push_integer(out, *n),
        Bson::Double(d) => push_double(out, *d),
        Bson::String(s) | Bson::Symbol(s) => {
            out.push('s');
            out.push_str(s);
        }
        Bson::ObjectId(oid) => {
            out.push('o');
            out.push_str(&oid.to_hex());
        }
        Bson::Boolean(b) => out.push_str(if *b { "b1" } else { "b0" }),
        Bson::DateTime(dt) => {
            out.push('t');
            out.push_str(&dt.timestamp_millis().to_string());
        }
        // Composite and rare types: their exact BSON bytes. Documents compare field by field in
        // MongoDB, so byte equality is the same relation except for numeric type differences
        // inside them, which we accept (documented in the README).
        other => {
            out.push('x');
            let wrapper = bson::doc! { "v": other.clone() };
            let mut bytes = Vec::new();
            if wrapper.to_writer(&mut bytes).is_ok() {
                for byte in bytes {
                    out.push_str(&format!("{byte:02x}"));
                }
            }
        }
    }
}

fn push_integer(out: &mut String, n: i64) {
    out.push('n');
    out.push_str(&n.to_string());
}

fn push_double(out: &mut String, d: f64) {
    // An integral double is the same MongoDB value as the integer: share its key.
    if d.fract() == 0.0 && d.is_finite() && d.abs() < 9.0e15 {
        push_integer(out, d as i64);
    } else {
        out.push('n');
        out.push_str(&format!("{d:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::oid::ObjectId;

    #[test]
    fn numbers_of_every_type_share_a_key() {
        assert_eq!(encode(&Bson::Int32(7)), encode(&Bson::Int64(7)));
        assert_eq!(encode(&Bson::Int32(7)), encode(&Bson::Double(7.0)));
        assert_ne!(encode(&Bson::Double(7.5)), encode(&Bson::Int32(7)));
        assert_eq!(encode(&Bson::Double(-0.0)), encode(&Bson::Int32(0)));
    }

    #[test]
    fn types_never_collide() {
        let oid = ObjectId::new();
        let keys = [
            encode(&Bson::String("1".into())),
            encode(&Bson::Int32(1)),
            encode(&Bson::Boolean(true)),
            encode(&Bson::Null),
            encode(&Bson::ObjectId(oid)),
            encode(&Bson::String(oid.to_hex())),
        ];
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
    }

    #[test]
    fn tuples_are_unambiguous() {
        let a = encode_tuple([&Bson::String("a1:sb".into()), &Bson::String("c".into())]);
        let b = encode_tuple([&Bson::String("a".into()), &Bson::String("b1:sc".into())]);
        assert_ne!(a, b);
    }
}
