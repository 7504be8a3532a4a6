//! Reading and writing a document at an update path. Update paths index arrays with numeric
//! components ("a.2.b") but, unlike query paths, never fan out over array elements.

use bson::{Bson, Document};

use crate::query::error::QueryError;

/// MongoDB refuses to pad an array with more nulls than this ("can't backfill more than
/// 1500000 elements").
const MAX_PADDING: usize = 1_500_000;

/// The value at `parts`, if the path exists.
pub(super) fn get<'a>(doc: &'a Document, parts: &[String]) -> Option<&'a Bson> {
    let (first, rest) = parts.split_first()?;
    let mut current = doc.get(first)?;
    for part in rest {
        current = match current {
            Bson::Document(inner) => inner.get(part)?,
            Bson::Array(items) => items.get(array_index(part)?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Sets the value at `parts`, creating missing intermediate documents and padding arrays with
/// nulls up to a numeric index. Going through a scalar is PathNotViable.
pub(super) fn set(doc: &mut Document, parts: &[String], value: Bson) -> Result<(), QueryError> {
    let Some((first, rest)) = parts.split_first() else {
        return Ok(());
    };
    if rest.is_empty() {
        doc.insert(first.clone(), value);
        return Ok(());
    }
    match doc.get_mut(first) {
        None => {
            doc.insert(first.clone(), create(rest, value));
            Ok(())
        }
        Some(existing) => set_in(existing, first, rest, value),
    }
}

fn set_in(
    container: &mut Bson,
    name: &str,
    parts: &[String],
    value: Bson,
) -> Result<(), QueryError> {
    let Some((first, rest)) = parts.split_first() else {
        *container = value;
        return Ok(());
    };
    match container {
        Bson::Document(inner) => set(inner, parts, value),
        Bson::Array(items) => {
            let Some(index) = array_index(first) else {
                return Err(not_viable(first, name, container_display(items)));
            };
            if index >= items.len() {
                if index - items.len() > MAX_PADDING {
                    return Err(QueryError::bad_value(format!(
                        "can't backfill array to larger than {MAX_PADDING} elements"
                    )));
                }
                items.resize(index, Bson::Null);
                items.push(create(rest, value));
                return Ok(());
            }
            match items.get_mut(index) {
                Some(item) if rest.is_empty() => {
                    *item = value;
                    Ok(())
                }
                Some(item) => set_in(item, first, rest, value),
                None => Ok(()),
            }
        }
        other => Err(not_viable(first, name, other.to_string())),
    }
}

/// The value for a path that does not exist yet: nested documents down to `value` (numeric
/// components name fields here, there is no array to index).
fn create(parts: &[String], value: Bson) -> Bson {
    parts.iter().rev().fold(value, |inner, part| {
        let mut doc = Document::new();
        doc.insert(part.clone(), inner);
        Bson::Document(doc)
    })
}

/// `$unset`: removes a field, or sets an array element to null (MongoDB keeps array positions).
/// Missing or non-viable paths are left alone.
pub(super) fn unset(doc: &mut Document, parts: &[String]) {
    let Some((last, parent_parts)) = parts.split_last() else {
        return;
    };
    if parent_parts.is_empty() {
        doc.remove(last);
        return;
    }
    let Some((first, rest)) = parent_parts.split_first() else {
        return;
    };
    let mut current = match doc.get_mut(first) {
        Some(value) => value,
        None => return,
    };
    for part in rest {
        current = match current {
            Bson::Document(inner) => match inner.get_mut(part) {
                Some(value) => value,
                None => return,
            },
            Bson::Array(items) => match array_index(part).and_then(|i| items.get_mut(i)) {
                Some(value) => value,
                None => return,
            },
            _ => return,
        };
    }
    match current {
        Bson::Document(inner) => {
            inner.remove(last);
        }
        Bson::Array(items) => {
            if let Some(item) = array_index(last).and_then(|i| items.get_mut(i)) {
                *item = Bson::Null;
            }
        }
        _ => {}
    }
}

/// For `$rename`, which does not work through arrays: the first array met before the end of
/// `parts`, by name, if any.
pub(super) fn array_on_path(doc: &Document, parts: &[String]) -> Option<String> {
    let (_, parents) = parts.split_last()?;
    let mut current = doc;
    for part in parents {
        match current.get(part) {
            Some(Bson::Document(inner)) => current = inner,
            Some(Bson::Array(_)) => return Some(part.clone()),
            _ => return None,
        }
    }
    None
}

/// Array positions are canonical decimal numbers ("0", "12"; not "01" or "+1").
fn array_index(part: &str) -> Option<usize> {
    let canonical =
        part == "0" || (!part.starts_with('0') && part.bytes().all(|b| b.is_ascii_digit()));
    if canonical && !part.is_empty() {
        part.parse().ok()
    } else {
        None
    }
}

fn container_display(items: &[Bson]) -> String {
    Bson::Array(items.to_vec()).to_string()
}

fn not_viable(field: &str, name: &str, element: String) -> QueryError {
    QueryError::path_not_viable(format!(
        "Cannot create field '{field}' in element {{{name}: {element}}}"
    ))
}

#[cfg(test)]
mod tests {
    use bson::{bson, doc};

    use super::*;

    fn parts(path: &str) -> Vec<String> {
        path.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn get_follows_documents_and_indexes() {
        let d = doc! {"a": {"b": [10, {"c": 1}]}};
        assert_eq!(get(&d, &parts("a.b.0")), Some(&bson!(10)));
        assert_eq!(get(&d, &parts("a.b.1.c")), Some(&bson!(1)));
        assert_eq!(get(&d, &parts("a.b.c")), None);
        assert_eq!(get(&d, &parts("a.b.01")), None);
        assert_eq!(get(&d, &parts("a.x")), None);
    }

    #[test]
    fn set_creates_and_pads() {
        let mut d = doc! {"a": [1]};
        set(&mut d, &parts("a.3"), bson!(4)).expect("pads");
        assert_eq!(d, doc! {"a": [1, null, null, 4]});
        set(&mut d, &parts("a.5.x"), bson!(1)).expect("pads with document");
        assert_eq!(d, doc! {"a": [1, null, null, 4, null, {"x": 1}]});
        let mut d = doc! {};
        set(&mut d, &parts("x.0.y"), bson!(1)).expect("creates documents");
        assert_eq!(d, doc! {"x": {"0": {"y": 1}}});
    }

    #[test]
    fn set_through_scalars_is_not_viable() {
        let mut d = doc! {"a": 1, "b": [1]};
        assert_eq!(
            set(&mut d, &parts("a.b"), bson!(1)).map_err(|e| e.code),
            Err(28)
        );
        assert_eq!(
            set(&mut d, &parts("b.x"), bson!(1)).map_err(|e| e.code),
            Err(28)
        );
        assert_eq!(
            set(&mut d, &parts("b.0.x"), bson!(1)).map_err(|e| e.code),
            Err(28)
        );
        assert_eq!(
            set(&mut d, &parts("b.99999999"), bson!(1)).map_err(|e| e.code),
            Err(2)
        );
    }

    #[test]
    fn unset_removes_or_nulls() {
        let mut d = doc! {"a": {"b": 1, "c": 2}, "l": [1, 2]};
        unset(&mut d, &parts("a.b"));
        unset(&mut d, &parts("l.0"));
        unset(&mut d, &parts("l.9"));
        unset(&mut d, &parts("zz.y"));
        assert_eq!(d, doc! {"a": {"c": 2}, "l": [null, 2]});
    }
}
