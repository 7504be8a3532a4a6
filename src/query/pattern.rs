//! `$regex` support: MongoDB evaluates regular expressions with PCRE, redhive with the `regex`
//! crate. Patterns are rewritten so that the common PCRE spellings mean the same thing here, and
//! anything whose meaning would differ is refused at parse time rather than matched differently.
//!
//! Rewrites: `\/` and other escaped punctuation become literals (JavaScript drivers send `/` as
//! `\/`); `\d \w \s` and their negations become their ASCII PCRE classes (the `regex` crate's are
//! Unicode-aware); `\b \B` become ASCII word boundaries; a literal `{` that does not start a
//! quantifier is escaped; `\Q…\E` quoting becomes escaped literals.
//!
//! Refused (BadValue, "not supported by redhive"): lookaround, backreferences, atomic groups,
//! possessive quantifiers, `\Z`, `\G`, `\K`, `\R`, `\h`, `\v`, `\X`, `\C`, `\N`, `\g`, `\k`,
//! octal escapes and other PCRE-only syntax.
//!
//! Known difference: without the `m` flag PCRE's `$` also matches before a final newline; here
//! it matches only at the very end.

use bson::{Bson, Regex as BsonRegex};

use super::error::QueryError;

/// The flags MongoDB accepts in `$options` and BSON regular expressions.
// `u` (what Python's re adds to every pattern) is accepted and ignored, as by MongoDB's
// pcre_util: patterns are always Unicode here.
const VALID_FLAGS: &str = "imsxu";

#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    source: String,
    options: String,
    compiled: regex::Regex,
}

// === impl Pattern ===

impl Pattern {
    pub(crate) fn new(source: &str, options: &str) -> Result<Self, QueryError> {
        if source.contains('\0') {
            return Err(QueryError::bad_value(
                "Regular expression cannot contain an embedded null byte",
            ));
        }
        if let Some(flag) = options.chars().find(|c| !VALID_FLAGS.contains(*c)) {
            return Err(QueryError::location(
                51108,
                "Location51108",
                format!("invalid flag in regex options: {flag}"),
            ));
        }
        let translated = translate(source, options.contains('x'))?;
        let mut builder = regex::RegexBuilder::new(&translated);
        builder
            .case_insensitive(options.contains('i'))
            .multi_line(options.contains('m'))
            .dot_matches_new_line(options.contains('s'))
            .ignore_whitespace(options.contains('x'));
        let compiled = builder.build().map_err(|err| {
            QueryError::bad_value(format!(
                "Regular expression /{source}/ uses syntax that is not supported by redhive: {err}"
            ))
        })?;
        Ok(Self {
            source: source.to_owned(),
            options: options.to_owned(),
            compiled,
        })
    }

    pub(crate) fn from_bson(regex: &BsonRegex) -> Result<Self, QueryError> {
        Self::new(&regex.pattern, &regex.options)
    }

    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.compiled.is_match(text)
    }

    /// The `$regex` operator on one value: strings and symbols are searched; a stored regular
    /// expression matches only if it is the same regular expression.
    pub(crate) fn matches_value(&self, value: &Bson) -> bool {
        match value {
            Bson::String(text) | Bson::Symbol(text) => self.is_match(text),
            Bson::RegularExpression(stored) => {
                stored.pattern == self.source && stored.options == self.options
            }
            _ => false,
        }
    }
}

/// PCRE escapes with no faithful equivalent in the `regex` crate.
const REFUSED_ESCAPES: &str = "ZGKRhHvVXCNgkEo0123456789c";

fn translate(source: &str, extended: bool) -> Result<String, QueryError> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len() + 8);
    let mut in_class = false;
    let mut class_start = false;
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i += 1;
        let at_class_start = std::mem::replace(&mut class_start, false);
        match c {
            '\\' => {
                let Some(&next) = chars.get(i) else {
                    return Err(refused(source, "a trailing backslash"));
                };
                i += 1;
                if next == 'Q' {
                    i = quote_until_e(&chars, i, &mut out);
                    continue;
                }
                translate_escape(source, next, in_class, &mut out)?;
            }
            '[' if in_class => match posix_class_end(&chars, i) {
                // POSIX class such as [:alpha:], spelt the same in both engines.
                Some(end) => {
                    out.push('[');
                    out.extend(chars.get(i..end).unwrap_or_default());
                    i = end;
                }
                None => out.push_str("\\["),
            },
            '[' => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
            }
            // In PCRE a `]` right after `[` or `[^` is a literal.
            ']' if in_class && at_class_start => {
                out.push_str("\\]");
                class_start = false;
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            // Class set operators of the regex crate (`&&`, `--`, `~~`) are plain text in PCRE.
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '-' if in_class && chars.get(i) == Some(&'-') => out.push_str("\\-"),
            // PCRE keeps whitespace inside a class even in extended mode; the regex crate would
            // drop it there.
            ' ' if in_class => out.push_str("\\x20"),
            '#' if in_class => out.push_str("\\#"),
            '\t' if in_class => out.push_str("\\t"),
            '\n' if in_class => out.push_str("\\n"),
            '{' if !in_class => {
                let end = quantifier_end(&chars, i);
                match end {
                    Some(end) => {
                        out.push('{');
                        out.extend(chars.get(i..end).unwrap_or_default());
                        i = end;
                    }
                    None => out.push_str("\\{"),
                }
            }
            '}' if !in_class => out.push_str("\\}"),
            '#' if extended && !in_class => {
                // A comment runs to the end of the line; copy it untouched.
                out.push('#');
                while let Some(&comment) = chars.get(i) {
                    if comment == '\n' {
                        break;
                    }
                    out.push(comment);
                    i += 1;
                }
            }
            '(' if !in_class && chars.get(i) == Some(&'?') => {
                check_group(source, &chars, i + 1)?;
                out.push('(');
            }
            '+' if !in_class && out_ends_with_quantifier(&out) => {
                return Err(refused(source, "possessive quantifiers"));
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

fn translate_escape(
    source: &str,
    escaped: char,
    in_class: bool,
    out: &mut String,
) -> Result<(), QueryError> {
    let replacement = match (escaped, in_class) {
        ('d', false) => "[0-9]",
        ('d', true) => "0-9",
        ('D', false) => "[^0-9]",
        ('D', true) => "[:^digit:]",
        ('w', false) => "[0-9A-Za-z_]",
        ('w', true) => "0-9A-Za-z_",
        ('W', false) => "[^0-9A-Za-z_]",
        ('W', true) => "[:^word:]",
        ('s', false) => "[\\t\\n\\x0B\\x0C\\r\\x20]",
        ('s', true) => "\\t\\n\\x0B\\x0C\\r\\x20",
        ('S', false) => "[^\\t\\n\\x0B\\x0C\\r\\x20]",
        ('S', true) => "[:^space:]",
        ('b', false) => "(?-u:\\b)",
        ('B', false) => "(?-u:\\B)",
        // Inside a class PCRE's \b is a backspace.
        ('b', true) => "\\x08",
        _ => "",
    };
    if !replacement.is_empty() {
        out.push_str(replacement);
        return Ok(());
    }
    if escaped.is_ascii_alphanumeric() {
        if REFUSED_ESCAPES.contains(escaped) {
            return Err(refused(source, &format!("the escape \\{escaped}")));
        }
        // \n \t \r \f \a \e \x.. \p{..} \A \z and friends mean the same in both engines.
        out.push('\\');
        out.push(escaped);
    } else {
        push_literal(escaped, out);
    }
    Ok(())
}

/// `\Q…\E`: everything up to `\E` (or the end) is literal text.
fn quote_until_e(chars: &[char], mut i: usize, out: &mut String) -> usize {
    while let Some(&c) = chars.get(i) {
        if c == '\\' && chars.get(i + 1) == Some(&'E') {
            return i + 2;
        }
        push_literal(c, out);
        i += 1;
    }
    i
}

fn push_literal(c: char, out: &mut String) {
    if c.is_whitespace() {
        // An escaped space stays literal in PCRE's extended mode; a hex escape does here too.
        out.push_str(&format!("\\x{{{:X}}}", u32::from(c)));
        return;
    }
    let mut buffer = [0u8; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut buffer)));
}

/// `:name:]` starting at `start` (just after a `[` inside a class); returns the index after `]`.
fn posix_class_end(chars: &[char], start: usize) -> Option<usize> {
    if chars.get(start) != Some(&':') {
        return None;
    }
    let mut i = start + 1;
    while chars
        .get(i)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == '^')
    {
        i += 1;
    }
    (chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&']')).then_some(i + 2)
}

/// `{n}`, `{n,}` or `{n,m}` starting after the `{` at `start`; returns the index after `}`.
fn quantifier_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start;
    let digits_start = i;
    while chars.get(i).is_some_and(char::is_ascii_digit) {
        i += 1;
    }
    if i == digits_start {
        return None;
    }
    if chars.get(i) == Some(&',') {
        i += 1;
        while chars.get(i).is_some_and(char::is_ascii_digit) {
            i += 1;
        }
    }
    (chars.get(i) == Some(&'}')).then_some(i + 1)
}

/// Groups starting with `(?`: allow non-capturing groups, inline flags and named groups; refuse
/// lookaround, atomic groups, comments, branch resets and other PCRE-only forms.
fn check_group(source: &str, chars: &[char], after_question: usize) -> Result<(), QueryError> {
    let next = chars.get(after_question).copied();
    let following = chars.get(after_question + 1).copied();
    let allowed = match next {
        Some(':') => true,
        Some('P') => following == Some('<'),
        Some('<') => following.is_some_and(|c| c.is_ascii_alphabetic() || c == '_'),
        Some(c) if "imsxU-".contains(c) => true,
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(refused(
            source,
            "this group syntax (lookaround, atomic or comment groups)",
        ))
    }
}

/// True when the translated text ends in a quantifier, so a following `+` would be possessive.
fn out_ends_with_quantifier(out: &str) -> bool {
    let mut chars = out.chars().rev();
    let Some(last) = chars.next() else {
        return false;
    };
    let escaped = chars.take_while(|c| *c == '\\').count() % 2 == 1;
    !escaped && matches!(last, '*' | '+' | '?' | '}')
}

fn refused(source: &str, what: &str) -> QueryError {
    QueryError::bad_value(format!(
        "Regular expression /{source}/ uses {what}, which is not supported by redhive"
    ))
}

#[cfg(test)]
mod tests;
