//! Which shard a series lives on (`docs/distributed.md`, "How data is
//! sharded").
//!
//! `shard = xxh64(series key without the field, seed 0) mod shards`, the key
//! being `measurement,k1=v1,k2=v2` with the tags sorted by key and `,` `=`
//! space and `\` escaped by a backslash (line protocol's escaping). XXH64 is
//! specified byte for byte and computed the same on every platform and in
//! every process (unlike `std`'s `DefaultHasher`, whose algorithm may change
//! between Rust releases), so a router and a later one agree forever.
//! Hashing the tag set, not the timeline, keeps every field of a row on
//! one shard.

use std::fmt;
use std::hash::Hasher;

use twox_hash::XxHash64;

/// A shard's index in `cluster.toml`'s `workers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId(pub u32);

impl ShardId {
    /// The index as `usize`.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The series key without the field: `measurement,k1=v1,…`, tags sorted.
pub fn series_key(measurement: &str, tags: &[(&str, &str)]) -> String {
    let mut tags = tags.to_vec();
    tags.sort_unstable();
    let mut out = String::with_capacity(64);
    escape_into(&mut out, measurement);
    for (k, v) in tags {
        out.push(',');
        escape_into(&mut out, k);
        out.push('=');
        escape_into(&mut out, v);
    }
    out
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        if matches!(c, ',' | '=' | ' ' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The shard of the series key `key` among `shards` shards (`shards > 0`).
pub fn shard_of_key(key: &str, shards: usize) -> ShardId {
    let mut h = XxHash64::with_seed(0);
    h.write(key.as_bytes());
    ShardId((h.finish() % shards.max(1) as u64) as u32)
}

/// The shard of the series `measurement` + `tags` among `shards` shards.
pub fn shard_of(measurement: &str, tags: &[(&str, &str)], shards: usize) -> ShardId {
    shard_of_key(&series_key(measurement, tags), shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sorts_and_escapes() {
        assert_eq!(
            series_key("cpu", &[("rack", "r 1"), ("host", "a,b")]),
            "cpu,host=a\\,b,rack=r\\ 1"
        );
    }

    #[test]
    fn xxh64_reference_values() {
        // XXH64 test vectors of the reference implementation (seed 0).
        let mut h = XxHash64::with_seed(0);
        h.write(b"");
        assert_eq!(h.finish(), 0xEF46_DB37_51D8_E999);
        let mut h = XxHash64::with_seed(0);
        h.write(b"a");
        assert_eq!(h.finish(), 0xD24E_C4F1_A98C_6E5B);
        // so the shard of key "a" among 3 is 0xD24EC4F1A98C6E5B mod 3
        assert_eq!(
            shard_of_key("a", 3),
            ShardId((0xD24E_C4F1_A98C_6E5Bu64 % 3) as u32)
        );
    }

    #[test]
    fn tag_order_does_not_matter() {
        let a = shard_of("cpu", &[("host", "h1"), ("dc", "eu")], 7);
        let b = shard_of("cpu", &[("dc", "eu"), ("host", "h1")], 7);
        assert_eq!(a, b);
    }
}
