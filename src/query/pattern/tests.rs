use bson::{bson, Bson};

use super::*;

fn matches(pattern: &str, options: &str, text: &str) -> bool {
    Pattern::new(pattern, options)
        .expect("pattern compiles")
        .is_match(text)
}

fn refused_code(pattern: &str) -> Option<i32> {
    Pattern::new(pattern, "").err().map(|err| err.code)
}

#[test]
fn javascript_slash_escapes() {
    assert!(matches("^\\/demo\\/", "", "/demo/a.json"));
    assert!(!matches("^\\/demo\\/", "", "/demox"));
    assert!(!matches("^\\/demo\\/", "", "x/demo/"));
}

#[test]
fn flags() {
    assert!(matches("^abc$", "i", "ABC"));
    assert!(!matches("^abc$", "", "ABC"));
    assert!(matches("^b$", "m", "a\nb\nc"));
    assert!(!matches("^b$", "", "a\nb\nc"));
    assert!(matches("a.c", "s", "a\nc"));
    assert!(!matches("a.c", "", "a\nc"));
    assert!(matches("a b # comment\n c", "x", "abc"));
    assert!(matches("^[a b]$", "x", " "));
    assert!(matches("^a\\ b$", "x", "a b"));
    assert!(matches("^\\Qa b\\E$", "x", "a b"));
    assert!(matches("^a[#]b$", "x", "a#b"));
    assert!(matches("^AL", "iu", "alice"));
    assert_eq!(
        Pattern::new("a", "g").map_err(|e| e.code).err(),
        Some(51108)
    );
}

#[test]
fn pcre_classes_are_ascii() {
    assert!(matches("^\\d+$", "", "123"));
    assert!(!matches("^\\d$", "", "٣")); // Arabic-Indic digit three
    assert!(matches("^\\D$", "", "٣"));
    assert!(!matches("^\\w$", "", "é"));
    assert!(matches("^\\W$", "", "é"));
    assert!(matches("^[\\w-]+$", "", "a-b_9"));
    assert!(matches("^[^\\d]$", "", "x"));
    assert!(matches("^[\\D]$", "", "x"));
    assert!(matches("^\\s$", "", "\u{b}"));
    assert!(!matches("^\\s$", "", "\u{a0}"));
    assert!(matches("\\bfoo\\b", "", "a foo b"));
    assert!(matches("^[[:alpha:]]+$", "", "abc"));
}

#[test]
fn pcre_literals() {
    assert!(matches("a{b", "", "a{b"));
    assert!(matches("a{2}", "", "aa"));
    assert!(matches("x}", "", "x}"));
    assert!(matches("^[]a]+$", "", "]a"));
    assert!(matches("^[^]a]$", "", "b"));
    assert!(matches("^[a&&b]+$", "", "&&"));
    assert!(matches("^\\Q.*\\E$", "", ".*"));
    assert!(matches("\\<b\\>", "", "<b>"));
    assert!(matches("^\\@\\#\\-$", "", "@#-"));
    assert!(matches("ünï", "i", "ÜNÏ"));
}

#[test]
fn unsupported_syntax_is_refused() {
    for pattern in [
        "(?=a)",
        "(?!a)",
        "(?<=a)b",
        "(?<!a)b",
        "(?>a)",
        "(a)\\1",
        "a\\Z",
        "a++",
        "a*+",
        "(?#comment)",
        "\\h",
        "trailing\\",
    ] {
        assert_eq!(refused_code(pattern), Some(2), "{pattern}");
        let message = Pattern::new(pattern, "")
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(message.contains("not supported by redhive"), "{message}");
    }
    assert_eq!(refused_code("a\0"), Some(2));
}

#[test]
fn supported_groups() {
    assert!(matches("(?:ab)+", "", "abab"));
    assert!(matches("(?i)AB", "", "ab"));
    assert!(matches("(?<word>ab)", "", "ab"));
    assert!(matches("(?P<word>ab)", "", "ab"));
    assert!(matches("a+?", "", "aaa"));
}

#[test]
fn values() {
    let p = Pattern::new("^a", "i").expect("compiles");
    assert!(p.matches_value(&bson!("Abc")));
    assert!(p.matches_value(&Bson::Symbol("abc".into())));
    assert!(!p.matches_value(&bson!(1)));
    assert!(p.matches_value(&Bson::RegularExpression(bson::Regex {
        pattern: "^a".into(),
        options: "i".into(),
    })));
    assert!(!p.matches_value(&Bson::RegularExpression(bson::Regex {
        pattern: "^a".into(),
        options: String::new(),
    })));
}
