//! Tests for the line-protocol parser: one per grammar rule, with expected structs written out.

use super::*;

fn s(text: &str) -> String {
    text.to_string()
}

fn parse(text: &str) -> Line {
    parse_line(text, 1, Precision::Nanoseconds)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .expect("a point, not a blank line")
}

fn error(text: &str) -> String {
    parse_line(text, 3, Precision::Nanoseconds)
        .unwrap_err()
        .to_string()
}

#[test]
fn full_line_with_tags_fields_and_timestamp() {
    let line = parse(
        "cpu,host=a,region=eu usage=0.5,count=3i,up=true,name=\"x\",big=7u 1700000000000000000",
    );
    assert_eq!(
        line,
        Line {
            measurement: s("cpu"),
            tags: vec![(s("host"), s("a")), (s("region"), s("eu"))],
            fields: vec![
                (s("usage"), FieldValue::Float(0.5)),
                (s("count"), FieldValue::Integer(3)),
                (s("up"), FieldValue::Boolean(true)),
                (s("name"), FieldValue::String(s("x"))),
                (s("big"), FieldValue::Unsigned(7)),
            ],
            timestamp: Some(1_700_000_000_000_000_000),
        }
    );
}

#[test]
fn minimal_line_has_no_tags_and_no_timestamp() {
    assert_eq!(
        parse("m v=1"),
        Line {
            measurement: s("m"),
            tags: vec![],
            fields: vec![(s("v"), FieldValue::Float(1.0))],
            timestamp: None
        }
    );
}

#[test]
fn tags_are_sorted_by_key() {
    let line = parse("m,z=1,a=2,m=3 v=1");
    assert_eq!(
        line.tags,
        vec![(s("a"), s("2")), (s("m"), s("3")), (s("z"), s("1"))]
    );
}

#[test]
fn measurement_escapes_comma_and_space() {
    let line = parse(r"my\ cpu\,1,t=v v=1");
    assert_eq!(line.measurement, "my cpu,1");
    // Other backslashes, and `=` (not special in a measurement), are kept literally.
    assert_eq!(parse(r"a\b=c v=1").measurement, r"a\b=c");
}

#[test]
fn tag_and_field_keys_and_values_escape_comma_space_and_equals() {
    let line = parse(r"m,k\ 1\,x\=y=v\ 1\,2\=3 f\ k\=\,=1i");
    assert_eq!(line.tags, vec![(s("k 1,x=y"), s("v 1,2=3"))]);
    assert_eq!(line.fields, vec![(s("f k=,"), FieldValue::Integer(1))]);
}

#[test]
fn string_fields_unescape_quotes_and_backslashes() {
    let line = parse(r#"m a="say \"hi\", C:\\dir\n",b="",c="x y=z,w""#);
    assert_eq!(
        line.fields,
        vec![
            (s("a"), FieldValue::String(s(r#"say "hi", C:\dir\n"#))),
            (s("b"), FieldValue::String(s(""))),
            (s("c"), FieldValue::String(s("x y=z,w"))),
        ]
    );
}

#[test]
fn every_value_kind_parses() {
    let line = parse("m a=1,b=1.5,c=-1e3,d=12i,e=-12i,f=12u,g=t,h=F,i=TRUE,j=false");
    let values: Vec<FieldValue> = line.fields.into_iter().map(|(_, v)| v).collect();
    assert_eq!(
        values,
        vec![
            FieldValue::Float(1.0),
            FieldValue::Float(1.5),
            FieldValue::Float(-1000.0),
            FieldValue::Integer(12),
            FieldValue::Integer(-12),
            FieldValue::Unsigned(12),
            FieldValue::Boolean(true),
            FieldValue::Boolean(false),
            FieldValue::Boolean(true),
            FieldValue::Boolean(false),
        ]
    );
}

#[test]
fn precision_scales_timestamps_to_nanoseconds() {
    let at = |p| {
        parse_line("m v=1 1700000000", 1, p)
            .unwrap()
            .unwrap()
            .timestamp
    };
    assert_eq!(at(Precision::Nanoseconds), Some(1_700_000_000));
    assert_eq!(at(Precision::Microseconds), Some(1_700_000_000_000));
    assert_eq!(at(Precision::Milliseconds), Some(1_700_000_000_000_000));
    assert_eq!(at(Precision::Seconds), Some(1_700_000_000_000_000_000));
    assert_eq!(parse("m v=1 -5").timestamp, Some(-5));
    assert_eq!("ms".parse::<Precision>(), Ok(Precision::Milliseconds));
    assert_eq!("us".parse::<Precision>(), Ok(Precision::Microseconds));
    assert_eq!("s".parse::<Precision>(), Ok(Precision::Seconds));
    assert_eq!("ns".parse::<Precision>(), Ok(Precision::Nanoseconds));
    assert_eq!(
        "h".parse::<Precision>().unwrap_err().to_string(),
        "unknown precision 'h' (expected ns, us, ms or s)"
    );
}

#[test]
fn blank_lines_comments_and_crlf() {
    for text in ["", "   ", "\t", "# a comment", "  # indented comment", "\r"] {
        assert_eq!(
            parse_line(text, 1, Precision::Nanoseconds),
            Ok(None),
            "{text:?}"
        );
    }
    assert_eq!(parse("m v=1 10\r").timestamp, Some(10));
    assert_eq!(
        parse("m v=\"a\"\r").fields,
        vec![(s("v"), FieldValue::String(s("a")))]
    );
}

#[test]
fn multiple_spaces_between_sections_and_trailing_spaces() {
    let line = parse("m,t=1   v=2i   3  ");
    assert_eq!(line.fields, vec![(s("v"), FieldValue::Integer(2))]);
    assert_eq!(line.timestamp, Some(3));
}

#[test]
fn errors_name_the_reason_and_position() {
    assert_eq!(error("cpu"), "line 3, column 4: missing field set");
    assert_eq!(error("cpu,host=a"), "line 3, column 11: missing field set");
    assert_eq!(error("cpu "), "line 3, column 5: missing field set");
    assert_eq!(error(",t=1 v=1"), "line 3, column 1: missing measurement");
    assert_eq!(
        error("m v=12xi"),
        "line 3, column 5: invalid integer '12xi'"
    );
    assert_eq!(
        error("m v=inf"),
        "line 3, column 5: invalid field value 'inf'"
    );
    assert_eq!(error("m v=\"abc"), "line 3, column 5: unterminated string");
    assert_eq!(
        error("m v=1 99999999999999999999"),
        "line 3, column 7: timestamp out of range"
    );
    assert_eq!(
        parse_line("m v=1 9300000000", 3, Precision::Seconds)
            .unwrap_err()
            .to_string(),
        "line 3, column 7: timestamp out of range"
    );
    assert_eq!(
        error("m v=1 12:00"),
        "line 3, column 7: invalid timestamp '12:00'"
    );
    assert_eq!(
        error("m v=1 1 2"),
        "line 3, column 9: unexpected text after the timestamp"
    );
    assert_eq!(
        error("m,a=1,a=2 v=1"),
        "line 3, column 7: duplicate tag key 'a'"
    );
    assert_eq!(
        error("m v=1,v=2"),
        "line 3, column 7: duplicate field key 'v'"
    );
    assert_eq!(error("m,=1 v=1"), "line 3, column 3: missing tag key");
    assert_eq!(
        error("m,t v=1"),
        "line 3, column 4: missing '=' after tag key 't'"
    );
    assert_eq!(
        error("m,t= v=1"),
        "line 3, column 5: missing value for tag 't'"
    );
    assert_eq!(
        error("m,t=a=b v=1"),
        "line 3, column 6: unescaped '=' in value of tag 't'"
    );
    assert_eq!(error("m =1"), "line 3, column 3: missing field key");
    assert_eq!(
        error("m v"),
        "line 3, column 4: missing '=' after field key 'v'"
    );
    assert_eq!(
        error("m v="),
        "line 3, column 5: missing value for field 'v'"
    );
    assert_eq!(error("m v=1,"), "line 3, column 7: missing field key");
    assert_eq!(
        error("m v=\"a\"x"),
        "line 3, column 8: expected ',' or a space after a string field value"
    );
    // Columns count characters, not bytes.
    assert_eq!(
        error("température v=non"),
        "line 3, column 15: invalid field value 'non'"
    );
}

#[test]
fn parse_lines_keeps_good_lines_around_bad_ones() {
    let text = "# header\r\na v=1 1\r\nb v=oops 2\n\nc,t=x v=3i 3\nd\ne v=\"s\" 5";
    let out = parse_lines(text, Precision::Nanoseconds);
    let names: Vec<&str> = out.lines.iter().map(|l| l.measurement.as_str()).collect();
    assert_eq!(names, ["a", "c", "e"]);
    assert_eq!(out.lines[1].tags, vec![(s("t"), s("x"))]);
    assert_eq!(out.lines[2].timestamp, Some(5));
    let errors: Vec<String> = out.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errors,
        [
            "line 3, column 5: invalid field value 'oops'",
            "line 6, column 2: missing field set"
        ]
    );
}
