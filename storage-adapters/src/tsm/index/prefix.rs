//! Literal prefixes of `LIKE` and regex patterns: every value a pattern
//! matches starts with its prefix, so a tag selection tests only the values
//! in the prefix's range of the sorted value map ([`super::select`]) instead
//! of every distinct value. An empty prefix means "no constraint".

use tsq_engine::Pattern;

/// The literal text every value matched by the `LIKE` pattern starts with:
/// the characters before the first `%` or `_` (`\` escapes the next one).
pub fn like_prefix(pattern: &Pattern) -> String {
    let mut prefix = String::new();
    let mut chars = pattern.source().chars();
    while let Some(c) = chars.next() {
        match c {
            '%' | '_' => break,
            '\\' => prefix.push(chars.next().unwrap_or('\\')),
            c => prefix.push(c),
        }
    }
    prefix
}

/// The literal text every value matched by the regex starts with, when the
/// regex is anchored (`^`) and has no alternation: the plain characters
/// after `^`, less the last one if a quantifier follows it. Empty otherwise
/// (escapes, classes, groups and flags end the prefix).
pub fn regex_prefix(pattern: &Pattern) -> String {
    let source = pattern.source();
    let Some(rest) = source.strip_prefix('^') else {
        return String::new();
    };
    if source.contains('|') {
        return String::new();
    }
    let mut prefix = String::new();
    for c in rest.chars() {
        match c {
            '*' | '?' | '{' => {
                prefix.pop();
                break;
            }
            '\\' | '.' | '+' | '(' | ')' | '[' | ']' | '}' | '^' | '$' => break,
            c => prefix.push(c),
        }
    }
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(s: &str) -> String {
        like_prefix(&Pattern::like(s).unwrap())
    }

    fn regex(s: &str) -> String {
        regex_prefix(&Pattern::regex(s).unwrap())
    }

    #[test]
    fn like_prefixes_stop_at_the_first_wildcard() {
        assert_eq!(like("web-%"), "web-");
        assert_eq!(like("w_b%"), "w");
        assert_eq!(like("x\\_y%"), "x_y");
        assert_eq!(like("%web"), "");
        assert_eq!(like("exact"), "exact");
    }

    #[test]
    fn regex_prefixes_need_an_anchor_and_no_alternation() {
        assert_eq!(regex("^web-[0-9]"), "web-");
        assert_eq!(regex("^web"), "web");
        assert_eq!(regex("web"), "");
        assert_eq!(regex("^we*b"), "w");
        assert_eq!(regex("^ab?"), "a");
        assert_eq!(regex("^ab{2}"), "a");
        assert_eq!(regex("^ab+"), "ab");
        assert_eq!(regex("^a|^b"), "");
        assert_eq!(regex("^(a|b)"), "");
        assert_eq!(regex("^(?i)web"), "");
        assert_eq!(regex("^a\\.b"), "a");
        assert_eq!(regex("^u01.$"), "u01");
    }
}
