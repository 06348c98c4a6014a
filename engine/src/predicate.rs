//! Tag predicates: the `WHERE` tests on tags that select timelines.
//!
//! The planner builds a [`TagPredicate`] from the query; a storage adapter that
//! declares tag pushdown answers it from its index, and `ScanOp` applies it to
//! whatever the adapter could not. Semantics follow InfluxQL: a series without
//! the tag has the empty string as its value, so `host != 'a'` and
//! `host NOT IN (...)` match it while `host = 'a'` does not.

use std::fmt;

use regex::Regex;

use crate::error::{EngineError, Result};
use crate::registry::SeriesInfo;

/// A boolean expression over a series' tags.
#[derive(Debug, Clone)]
pub enum TagPredicate {
    /// Matches every series.
    True,
    /// `key = 'value'`.
    Eq(String, String),
    /// `key != 'value'`.
    NotEq(String, String),
    /// `key IN (...)`.
    In(String, Vec<String>),
    /// `key NOT IN (...)`.
    NotIn(String, Vec<String>),
    /// `key LIKE 'pattern'` (`%` any run, `_` one character).
    Like(String, Pattern),
    /// `key ~ 'regex'` (unanchored, as InfluxQL).
    Regex(String, Pattern),
    /// `key !~ 'regex'`.
    NotRegex(String, Pattern),
    /// All of.
    And(Vec<TagPredicate>),
    /// Any of.
    Or(Vec<TagPredicate>),
    /// Negation.
    Not(Box<TagPredicate>),
}

/// A compiled pattern that remembers its source text.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    /// Compiles a regular expression (`~`, `!~`).
    pub fn regex(source: &str) -> Result<Self> {
        let regex = Regex::new(source).map_err(|e| {
            EngineError::InvalidArgument(format!("invalid regular expression '{source}': {e}"))
        })?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// Compiles a SQL `LIKE` pattern: `%` matches any run, `_` one character,
    /// `\` escapes the next character; the whole value must match.
    pub fn like(source: &str) -> Result<Self> {
        let mut re = String::from("^");
        let mut chars = source.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => re.push_str(".*"),
                '_' => re.push('.'),
                '\\' => match chars.next() {
                    Some(n) => re.push_str(&regex::escape(&n.to_string())),
                    None => re.push_str(&regex::escape("\\")),
                },
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        let regex = Regex::new(&re).map_err(|e| {
            EngineError::InvalidArgument(format!("invalid LIKE pattern '{source}': {e}"))
        })?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    /// The pattern as the user wrote it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when `value` matches.
    pub fn is_match(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }
}

impl TagPredicate {
    /// True when the series with these tags satisfies the predicate.
    pub fn matches(&self, series: &SeriesInfo) -> bool {
        let tag = |k: &str| series.tag(k).unwrap_or("");
        match self {
            TagPredicate::True => true,
            TagPredicate::Eq(k, v) => tag(k) == v,
            TagPredicate::NotEq(k, v) => tag(k) != v,
            TagPredicate::In(k, vs) => vs.iter().any(|v| v == tag(k)),
            TagPredicate::NotIn(k, vs) => !vs.iter().any(|v| v == tag(k)),
            TagPredicate::Like(k, p) | TagPredicate::Regex(k, p) => p.is_match(tag(k)),
            TagPredicate::NotRegex(k, p) => !p.is_match(tag(k)),
            TagPredicate::And(ps) => ps.iter().all(|p| p.matches(series)),
            TagPredicate::Or(ps) => ps.iter().any(|p| p.matches(series)),
            TagPredicate::Not(p) => !p.matches(series),
        }
    }

    /// True for the predicate that matches everything.
    pub fn is_true(&self) -> bool {
        matches!(self, TagPredicate::True)
    }

    /// The conjunction of two predicates, dropping `True` operands.
    pub fn and(self, other: TagPredicate) -> TagPredicate {
        match (self, other) {
            (TagPredicate::True, p) | (p, TagPredicate::True) => p,
            (TagPredicate::And(mut a), TagPredicate::And(b)) => {
                a.extend(b);
                TagPredicate::And(a)
            }
            (TagPredicate::And(mut a), p) => {
                a.push(p);
                TagPredicate::And(a)
            }
            (p, q) => TagPredicate::And(vec![p, q]),
        }
    }
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

impl fmt::Display for TagPredicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |vs: &[String]| vs.iter().map(|v| quote(v)).collect::<Vec<_>>().join(", ");
        let join = |f: &mut fmt::Formatter<'_>, ps: &[TagPredicate], op: &str| {
            write!(f, "(")?;
            for (i, p) in ps.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{p}")?;
            }
            write!(f, ")")
        };
        match self {
            TagPredicate::True => write!(f, "true"),
            TagPredicate::Eq(k, v) => write!(f, "{k} = {}", quote(v)),
            TagPredicate::NotEq(k, v) => write!(f, "{k} != {}", quote(v)),
            TagPredicate::In(k, vs) => write!(f, "{k} IN ({})", list(vs)),
            TagPredicate::NotIn(k, vs) => write!(f, "{k} NOT IN ({})", list(vs)),
            TagPredicate::Like(k, p) => write!(f, "{k} LIKE {}", quote(p.source())),
            TagPredicate::Regex(k, p) => write!(f, "{k} ~ {}", quote(p.source())),
            TagPredicate::NotRegex(k, p) => write!(f, "{k} !~ {}", quote(p.source())),
            TagPredicate::And(ps) => join(f, ps, "AND"),
            TagPredicate::Or(ps) => join(f, ps, "OR"),
            TagPredicate::Not(p) => write!(f, "NOT {p}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_tests_follow_influxql_missing_tag_rules() {
        let s = SeriesInfo::new("cpu", &[("host", "web-01"), ("dc", "eu")], "v");
        let no_host = SeriesInfo::new("cpu", &[("dc", "eu")], "v");
        let eq = TagPredicate::Eq("host".into(), "web-01".into());
        assert!(eq.matches(&s) && !eq.matches(&no_host));
        let ne = TagPredicate::NotEq("host".into(), "web-01".into());
        assert!(!ne.matches(&s) && ne.matches(&no_host));
        let like = TagPredicate::Like("host".into(), Pattern::like("web%").unwrap());
        assert!(like.matches(&s) && !like.matches(&no_host));
        let like1 = TagPredicate::Like("host".into(), Pattern::like("web-0_").unwrap());
        assert!(like1.matches(&s));
        let dot = TagPredicate::Like("host".into(), Pattern::like("web.01").unwrap());
        assert!(!dot.matches(&s), "a dot in LIKE is literal");
        let re = TagPredicate::Regex("host".into(), Pattern::regex("^web-\\d+$").unwrap());
        assert!(re.matches(&s));
        let p = TagPredicate::Or(vec![
            TagPredicate::Not(Box::new(TagPredicate::In("dc".into(), vec!["eu".into()]))),
            TagPredicate::NotIn("host".into(), vec!["web-01".into()]),
        ]);
        assert!(!p.matches(&s) && p.matches(&no_host));
        assert_eq!(
            p.to_string(),
            "(NOT dc IN ('eu') OR host NOT IN ('web-01'))"
        );
    }

    #[test]
    fn bad_regex_is_an_error() {
        let err = Pattern::regex("(").unwrap_err().to_string();
        assert!(err.contains("invalid regular expression '('"), "{err}");
    }
}
