//! Writes a [`Line`] back out as line protocol (timestamps in nanoseconds), escaping whatever the
//! parser unescapes, so `parse_line(&line.to_string(), ..)` gives the same line back for every line
//! the parser can produce. Line protocol has no escape for a few things a hand-built [`Line`] could
//! hold: a measurement starting with `#` or a tab, a newline anywhere, a key or tag value ending in
//! a backslash, and empty names; those do not survive the trip.

use std::fmt::{self, Write};

use super::{FieldValue, Line};

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaped(f, &self.measurement, b", ")?;
        for (k, v) in &self.tags {
            f.write_char(',')?;
            write_escaped(f, k, b",= ")?;
            f.write_char('=')?;
            write_escaped(f, v, b",= ")?;
        }
        for (i, (k, v)) in self.fields.iter().enumerate() {
            f.write_char(if i == 0 { ' ' } else { ',' })?;
            write_escaped(f, k, b",= ")?;
            f.write_char('=')?;
            write_value(f, v)?;
        }
        if let Some(t) = self.timestamp {
            write!(f, " {t}")?;
        }
        Ok(())
    }
}

/// Writes `text` with a backslash before every byte in `special`.
fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str, special: &[u8]) -> fmt::Result {
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if special.contains(&b) {
            f.write_str(&text[start..i])?;
            f.write_char('\\')?;
            start = i;
        }
    }
    f.write_str(&text[start..])
}

fn write_value(f: &mut fmt::Formatter<'_>, value: &FieldValue) -> fmt::Result {
    match value {
        // `{:?}` keeps a `.0` or an exponent and prints the shortest exact form.
        FieldValue::Float(v) => write!(f, "{v:?}"),
        FieldValue::Integer(v) => write!(f, "{v}i"),
        FieldValue::Unsigned(v) => write!(f, "{v}u"),
        FieldValue::Boolean(v) => write!(f, "{v}"),
        FieldValue::String(s) => {
            f.write_char('"')?;
            write_escaped(f, s, b"\"\\")?;
            f.write_char('"')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_line, Precision};
    use super::*;
    use proptest::prelude::*;

    /// Names and values from a mix of letters and every character the grammar treats specially,
    /// minus what line protocol cannot escape (see the module doc).
    fn name() -> impl Strategy<Value = String> {
        "[a-zé ,=\\\"#\r]{0,6}[a-z,= #]".prop_filter("no leading #", |s| !s.starts_with('#'))
    }

    fn value() -> impl Strategy<Value = FieldValue> {
        prop_oneof![
            any::<f64>()
                .prop_filter("finite", |v| v.is_finite())
                .prop_map(FieldValue::Float),
            any::<i64>().prop_map(FieldValue::Integer),
            any::<u64>().prop_map(FieldValue::Unsigned),
            any::<bool>().prop_map(FieldValue::Boolean),
            "[a-z \\\",=\r]{0,8}".prop_map(FieldValue::String),
        ]
    }

    proptest! {
        #[test]
        fn any_writable_line_parses_back(
            measurement in name(),
            tags in proptest::collection::btree_map(name(), name(), 0..4),
            fields in proptest::collection::btree_map(name(), value(), 1..5),
            timestamp in proptest::option::of(any::<i64>()),
        ) {
            let line = Line {
                measurement,
                tags: tags.into_iter().collect(),
                fields: fields.into_iter().collect(),
                timestamp,
            };
            let text = line.to_string();
            prop_assert_eq!(parse_line(&text, 1, Precision::Nanoseconds), Ok(Some(line)), "{}", text);
        }
    }

    #[test]
    fn writes_escaped_line_protocol_that_parses_back() {
        let line = Line {
            measurement: "my cpu,1".into(),
            tags: vec![("k=1".into(), "a b".into())],
            fields: vec![
                ("f,x".into(), FieldValue::String(r#"say "hi" \o/"#.into())),
                ("n".into(), FieldValue::Integer(-3)),
                ("u".into(), FieldValue::Unsigned(4)),
                ("b".into(), FieldValue::Boolean(false)),
                ("v".into(), FieldValue::Float(2.0)),
            ],
            timestamp: Some(-7),
        };
        let text = line.to_string();
        assert_eq!(
            text,
            r#"my\ cpu\,1,k\=1=a\ b f\,x="say \"hi\" \\o/",n=-3i,u=4u,b=false,v=2.0 -7"#
        );
        assert_eq!(parse_line(&text, 1, Precision::Nanoseconds), Ok(Some(line)));
    }
}
