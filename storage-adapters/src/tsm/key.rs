//! Series keys. The text key `measurement,k1=v1,k2=v2#field` (tags sorted,
//! `,` `=` ` ` `#` `\` escaped with `\`) names a series in TSM file indexes and
//! tombstones; the binary form (length-prefixed measurement, tags and field)
//! stores a [`SeriesInfo`] in the WAL and the series log.

use std::collections::HashSet;
use std::sync::Arc;

use tsq_engine::SeriesInfo;

use super::bytes::{put_str, put_uvarint, Cursor};

fn escape_into(out: &mut String, s: &str) {
    // Most names need no escape: copy them whole.
    if !s
        .bytes()
        .any(|b| matches!(b, b',' | b'=' | b' ' | b'#' | b'\\'))
    {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if matches!(c, ',' | '=' | ' ' | '#' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The unambiguous text key of a series.
pub fn series_key(s: &SeriesInfo) -> String {
    let mut out = String::with_capacity(64);
    write_series_key(&mut out, s);
    out
}

/// Appends the text key of `s` (see [`series_key`]) to `out`.
pub(crate) fn write_series_key(out: &mut String, s: &SeriesInfo) {
    let tags = s.tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref()));
    write_key_prefix(out, &s.measurement, tags);
    push_field(out, &s.field);
}

/// Appends the key up to (not including) the field, `measurement,k1=v1,...`,
/// to `out`, for tags already sorted by key.
pub(crate) fn write_key_prefix<'a>(
    out: &mut String,
    measurement: &str,
    tags: impl Iterator<Item = (&'a str, &'a str)>,
) {
    escape_into(out, measurement);
    for (k, v) in tags {
        out.push(',');
        escape_into(out, k);
        out.push('=');
        escape_into(out, v);
    }
}

/// Completes a [`write_key_prefix`] with `#field`.
pub(crate) fn push_field(prefix: &mut String, field: &str) {
    prefix.push('#');
    escape_into(prefix, field);
}

/// Appends the binary form of `s`.
pub(crate) fn encode_series(dst: &mut Vec<u8>, s: &SeriesInfo) {
    put_str(dst, &s.measurement);
    put_uvarint(dst, s.tags.len() as u64);
    for (k, v) in &s.tags {
        put_str(dst, k);
        put_str(dst, v);
    }
    put_str(dst, &s.field);
}

/// Reads the binary form written by [`encode_series`].
pub(crate) fn decode_series(c: &mut Cursor<'_>) -> Result<SeriesInfo, String> {
    decode_series_in(c, &mut Interner::default())
}

/// [`decode_series`] sharing each distinct string through `interner`: the
/// series log repeats measurement, tag keys, tag values and field names
/// across hundreds of thousands of series, and one `Arc<str>` each saves
/// both the allocations at open and the memory of the index.
pub(crate) fn decode_series_in(
    c: &mut Cursor<'_>,
    interner: &mut Interner,
) -> Result<SeriesInfo, String> {
    let measurement = interner.get(c.str_ref()?);
    let n = c.len(2)?;
    let mut tags = Vec::with_capacity(n);
    for _ in 0..n {
        let k = interner.get(c.str_ref()?);
        let v = interner.get(c.str_ref()?);
        tags.push((k, v));
    }
    let field = interner.get(c.str_ref()?);
    Ok(SeriesInfo {
        measurement,
        tags,
        field,
    })
}

/// One shared `Arc<str>` per distinct string.
#[derive(Debug, Default)]
pub(crate) struct Interner(HashSet<Arc<str>>);

impl Interner {
    /// The shared copy of `s`, made on first sight.
    pub(crate) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        self.0.insert(Arc::clone(&a));
        a
    }
}

/// Parses a text key written by [`series_key`] back into its series (used
/// to rebuild the series index from TSM file indexes).
pub fn parse_series_key(key: &str) -> Result<SeriesInfo, String> {
    // Split on unescaped separators, unescaping as we go.
    let mut parts: Vec<(char, String)> = vec![('^', String::new())];
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let e = chars
                    .next()
                    .ok_or_else(|| format!("series key '{key}' ends in an escape"))?;
                parts.last_mut().expect("never empty").1.push(e);
            }
            ',' | '=' | '#' => parts.push((c, String::new())),
            _ => parts.last_mut().expect("never empty").1.push(c),
        }
    }
    let bad = || format!("malformed series key '{key}'");
    let (field_sep, field) = parts.pop().ok_or_else(bad)?;
    if field_sep != '#' || parts.len().is_multiple_of(2) {
        return Err(bad());
    }
    let measurement = &parts[0].1;
    let mut tags = Vec::with_capacity(parts.len() / 2);
    for pair in parts[1..].chunks(2) {
        if pair[0].0 != ',' || pair[1].0 != '=' {
            return Err(bad());
        }
        tags.push((Arc::from(pair[0].1.as_str()), Arc::from(pair[1].1.as_str())));
    }
    let sorted = tags.windows(2).all(|w| w[0].0 < w[1].0);
    if !sorted {
        return Err(format!("series key '{key}' has unsorted or repeated tags"));
    }
    Ok(SeriesInfo {
        measurement: Arc::from(measurement.as_str()),
        tags,
        field: Arc::from(field.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_escape_separators() {
        let s = SeriesInfo::new("c pu", &[("host", "a,b=c"), ("dc", "x#y")], "us\\er");
        assert_eq!(series_key(&s), "c\\ pu,dc=x\\#y,host=a\\,b\\=c#us\\\\er");
        let mut b = Vec::new();
        encode_series(&mut b, &s);
        let back = decode_series(&mut Cursor::new(&b)).unwrap();
        assert_eq!(back, s);
        let key = series_key(&s);
        assert_eq!(parse_series_key(&key).unwrap(), s);
        let plain = SeriesInfo::new("mem", &[], "free");
        assert_eq!(parse_series_key("mem#free").unwrap(), plain);
        assert_eq!(
            parse_series_key("cpu,host#f").unwrap_err(),
            "malformed series key 'cpu,host#f'"
        );
        assert_eq!(
            parse_series_key("cpu,b=1,a=2#f").unwrap_err(),
            "series key 'cpu,b=1,a=2#f' has unsorted or repeated tags"
        );
        assert!(parse_series_key("cpu").is_err());
    }
}
