//! Typed value columns: the points of one series as parallel `times` /
//! [`Values`] vectors. The WAL, the cache, TSM blocks and compaction all move
//! points in this shape; [`sort_dedup`] applies "the last write wins".

/// The stored type of a field; fixed when its series is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldType {
    /// 64-bit float.
    Float = 0,
    /// Signed 64-bit integer.
    Integer = 1,
    /// Unsigned 64-bit integer.
    Unsigned = 2,
    /// Boolean.
    Boolean = 3,
    /// UTF-8 string.
    String = 4,
}

impl FieldType {
    /// The type with this on-disk code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => FieldType::Float,
            1 => FieldType::Integer,
            2 => FieldType::Unsigned,
            3 => FieldType::Boolean,
            4 => FieldType::String,
            _ => return None,
        })
    }

    /// Lower-case name (`float`, `integer`, ...).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::Unsigned => "unsigned",
            FieldType::Boolean => "boolean",
            FieldType::String => "string",
        }
    }
}

/// One column of values of a single type.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Floats.
    Float(Vec<f64>),
    /// Signed integers.
    Integer(Vec<i64>),
    /// Unsigned integers.
    Unsigned(Vec<u64>),
    /// Booleans.
    Boolean(Vec<bool>),
    /// Strings.
    String(Vec<String>),
}

/// One numeric value in its stored type (booleans as floats 0 and 1): the
/// newest point of a series, as the last-point read finds it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A float (or a boolean as 0 / 1).
    Float(f64),
    /// A signed integer.
    Integer(i64),
    /// An unsigned integer.
    Unsigned(u64),
}

impl Number {
    /// The value as f64 (integers rounded to nearest beyond 2^53).
    pub fn to_f64(self) -> f64 {
        match self {
            Number::Float(v) => v,
            Number::Integer(v) => v as f64,
            Number::Unsigned(v) => v as f64,
        }
    }
}

/// Runs `$body` with `$v` bound to the inner vector of `$values`.
macro_rules! each {
    ($values:expr, $v:ident => $body:expr) => {
        match $values {
            Values::Float($v) => $body,
            Values::Integer($v) => $body,
            Values::Unsigned($v) => $body,
            Values::Boolean($v) => $body,
            Values::String($v) => $body,
        }
    };
}

impl Values {
    /// An empty column of type `ty`.
    pub fn empty(ty: FieldType) -> Self {
        match ty {
            FieldType::Float => Values::Float(Vec::new()),
            FieldType::Integer => Values::Integer(Vec::new()),
            FieldType::Unsigned => Values::Unsigned(Vec::new()),
            FieldType::Boolean => Values::Boolean(Vec::new()),
            FieldType::String => Values::String(Vec::new()),
        }
    }

    /// The column's type.
    pub fn field_type(&self) -> FieldType {
        match self {
            Values::Float(_) => FieldType::Float,
            Values::Integer(_) => FieldType::Integer,
            Values::Unsigned(_) => FieldType::Unsigned,
            Values::Boolean(_) => FieldType::Boolean,
            Values::String(_) => FieldType::String,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        each!(self, v => v.len())
    }

    /// True when the column is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes, for the cache size limit.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Values::Boolean(v) => v.len(),
            Values::String(v) => v.iter().map(|s| s.len() + 24).sum(),
            _ => self.len() * 8,
        }
    }

    /// Appends `other` (same type) to `self`; false on a type mismatch.
    pub fn extend_from(&mut self, other: &Values) -> bool {
        match (self, other) {
            (Values::Float(a), Values::Float(b)) => a.extend_from_slice(b),
            (Values::Integer(a), Values::Integer(b)) => a.extend_from_slice(b),
            (Values::Unsigned(a), Values::Unsigned(b)) => a.extend_from_slice(b),
            (Values::Boolean(a), Values::Boolean(b)) => a.extend_from_slice(b),
            (Values::String(a), Values::String(b)) => a.extend_from_slice(b),
            _ => return false,
        }
        true
    }

    /// The values at positions `idx`, in that order.
    pub fn gather(&self, idx: &[usize]) -> Values {
        match self {
            Values::Float(v) => Values::Float(idx.iter().map(|&i| v[i]).collect()),
            Values::Integer(v) => Values::Integer(idx.iter().map(|&i| v[i]).collect()),
            Values::Unsigned(v) => Values::Unsigned(idx.iter().map(|&i| v[i]).collect()),
            Values::Boolean(v) => Values::Boolean(idx.iter().map(|&i| v[i]).collect()),
            Values::String(v) => Values::String(idx.iter().map(|&i| v[i].clone()).collect()),
        }
    }

    /// The values in `start..end`.
    pub fn slice(&self, start: usize, end: usize) -> Values {
        match self {
            Values::Float(v) => Values::Float(v[start..end].to_vec()),
            Values::Integer(v) => Values::Integer(v[start..end].to_vec()),
            Values::Unsigned(v) => Values::Unsigned(v[start..end].to_vec()),
            Values::Boolean(v) => Values::Boolean(v[start..end].to_vec()),
            Values::String(v) => Values::String(v[start..end].to_vec()),
        }
    }

    /// Value `i` as a [`Number`]; `None` for strings or past the end.
    pub fn number(&self, i: usize) -> Option<Number> {
        match self {
            Values::Float(v) => v.get(i).map(|&x| Number::Float(x)),
            Values::Integer(v) => v.get(i).map(|&x| Number::Integer(x)),
            Values::Unsigned(v) => v.get(i).map(|&x| Number::Unsigned(x)),
            Values::Boolean(v) => v.get(i).map(|&x| Number::Float(f64::from(u8::from(x)))),
            Values::String(_) => None,
        }
    }

    /// The values as f64 (booleans as 0/1), or `None` for strings.
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        Some(match self {
            Values::Float(v) => v.clone(),
            Values::Integer(v) => v.iter().map(|&x| x as f64).collect(),
            Values::Unsigned(v) => v.iter().map(|&x| x as f64).collect(),
            Values::Boolean(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
            Values::String(_) => return None,
        })
    }
}

/// Sorts `(times, values)` by time, keeping the *last* of equal timestamps
/// (the latest write). Already strictly increasing input is returned as is.
pub fn sort_dedup(times: Vec<i64>, values: Values) -> (Vec<i64>, Values) {
    if times.windows(2).all(|w| w[0] < w[1]) {
        return (times, values);
    }
    let mut idx: Vec<usize> = (0..times.len()).collect();
    // Stable sort keeps write order among equal times; keep the last of a run.
    idx.sort_by_key(|&i| times[i]);
    let mut keep = Vec::with_capacity(idx.len());
    for (k, &i) in idx.iter().enumerate() {
        let last_of_run = idx.get(k + 1).is_none_or(|&j| times[j] != times[i]);
        if last_of_run {
            keep.push(i);
        }
    }
    let t = keep.iter().map(|&i| times[i]).collect();
    (t, values.gather(&keep))
}

/// Merges sorted, deduplicated chunks given oldest first: on equal timestamps
/// the later chunk wins. Returns one sorted, deduplicated chunk.
pub fn merge_chunks(chunks: Vec<(Vec<i64>, Values)>, ty: FieldType) -> (Vec<i64>, Values) {
    let mut chunks: Vec<_> = chunks.into_iter().filter(|c| !c.0.is_empty()).collect();
    if chunks.len() == 1 {
        return chunks.pop().expect("one chunk");
    }
    let mut order: Vec<usize> = (0..chunks.len()).collect();
    order.sort_by_key(|&i| chunks[i].0[0]);
    let disjoint = order
        .windows(2)
        .all(|w| chunks[w[0]].0.last() < chunks[w[1]].0.first());
    let mut times = Vec::new();
    let mut values = Values::empty(ty);
    if disjoint {
        for &i in &order {
            times.extend_from_slice(&chunks[i].0);
            values.extend_from(&chunks[i].1);
        }
        return (times, values);
    }
    for (t, v) in &chunks {
        times.extend_from_slice(t);
        values.extend_from(v);
    }
    sort_dedup(times, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_write_wins_on_equal_times() {
        let (t, v) = sort_dedup(vec![20, 10, 20, 5], Values::Float(vec![1.0, 2.0, 3.0, 4.0]));
        // times sorted: 5 (4.0), 10 (2.0), 20 (1.0 then 3.0 -> 3.0 wins)
        assert_eq!(t, vec![5, 10, 20]);
        assert_eq!(v, Values::Float(vec![4.0, 2.0, 3.0]));
    }

    #[test]
    fn newer_chunk_overrides_older() {
        let old = (vec![1, 2, 3], Values::Integer(vec![10, 20, 30]));
        let new = (vec![2, 4], Values::Integer(vec![200, 400]));
        let (t, v) = merge_chunks(vec![old, new], FieldType::Integer);
        assert_eq!(t, vec![1, 2, 3, 4]);
        assert_eq!(v, Values::Integer(vec![10, 200, 30, 400]));
        let a = (vec![5, 6], Values::Boolean(vec![true, false]));
        let b = (vec![1, 2], Values::Boolean(vec![false, true]));
        let (t, v) = merge_chunks(vec![a, b], FieldType::Boolean);
        assert_eq!(t, vec![1, 2, 5, 6]);
        assert_eq!(v, Values::Boolean(vec![false, true, true, false]));
    }

    #[test]
    fn numeric_types_read_as_f64_and_strings_do_not() {
        assert_eq!(
            Values::Boolean(vec![true, false]).to_f64(),
            Some(vec![1.0, 0.0])
        );
        assert_eq!(Values::Unsigned(vec![7]).to_f64(), Some(vec![7.0]));
        assert_eq!(Values::String(vec!["a".into()]).to_f64(), None);
    }
}
