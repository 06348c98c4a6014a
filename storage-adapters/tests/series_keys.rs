//! The catalog answers behind `SHOW SERIES` / `SHOW TAG VALUES ... WHERE` /
//! `SHOW FIELD KEYS`: `series_keys` of the TSM adapter (from its index),
//! of the memory adapter (from its map) and the trait's default (the
//! registries of empty scans) must all equal the distinct tag sets a
//! reference computes from the written series; `field_types` reports the
//! stored types.

mod common_tsm;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use common_tsm::{dir, pts};
use tsq_engine::registry::TagPairs;
use tsq_engine::{
    Capabilities, Pattern, Result, ScanRequest, SeriesInfo, SeriesScan, StorageAdapter,
    TagPredicate as P, ValueType,
};
use tsq_storage::memory::MemoryAdapter;
use tsq_storage::tsm::value::Values;
use tsq_storage::tsm::wal::SeriesPoints;
use tsq_storage::tsm::{Store, StoreOptions, TsmAdapter};

/// A memory adapter seen only through the required methods, so the trait's
/// default `series_keys` and `field_types` answer.
#[derive(Debug)]
struct Plain(MemoryAdapter);

#[async_trait]
impl StorageAdapter for Plain {
    fn name(&self) -> &str {
        "plain"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
    async fn scan(&self, r: &ScanRequest) -> Result<Box<dyn SeriesScan>> {
        self.0.scan(r).await
    }
    async fn time_span(&self, r: &ScanRequest) -> Result<Option<(i64, i64)>> {
        self.0.time_span(r).await
    }
    async fn measurements(&self) -> Result<Vec<String>> {
        self.0.measurements().await
    }
    async fn fields(&self, m: &str) -> Result<Vec<String>> {
        self.0.fields(m).await
    }
    async fn tag_keys(&self, m: &str) -> Result<Vec<String>> {
        self.0.tag_keys(m).await
    }
    async fn tag_values(&self, m: &str, k: &str) -> Result<Vec<String>> {
        self.0.tag_values(m, k).await
    }
    async fn series_count(&self, m: &str) -> Result<usize> {
        self.0.series_count(m).await
    }
}

/// 12 hosts in 3 dcs (host 7 without a dc), fields u (every host) and s
/// (even hosts), plus a measurement `mem` that must not leak in.
fn series() -> Vec<(String, Option<&'static str>, &'static str)> {
    let mut out = Vec::new();
    for h in 0..12 {
        let dc = (h != 7).then(|| ["eu", "us", "ap"][h % 3]);
        out.push((format!("web-{h:02}"), dc, "u"));
        if h % 2 == 0 {
            out.push((format!("web-{h:02}"), dc, "s"));
        }
    }
    out
}

fn infos() -> Vec<SeriesInfo> {
    series()
        .iter()
        .map(|(host, dc, field)| match dc {
            Some(dc) => SeriesInfo::new("cpu", &[("host", host), ("dc", dc)], field),
            None => SeriesInfo::new("cpu", &[("host", host)], field),
        })
        .collect()
}

#[tokio::test]
async fn series_keys_agree_with_a_reference_on_every_adapter() {
    let memory = MemoryAdapter::new();
    let plain = MemoryAdapter::new();
    let d = dir("series_keys");
    let store = Arc::new(Store::open(&d, StoreOptions::default()).unwrap().0);
    let mut batch: Vec<SeriesPoints> = Vec::new();
    for s in infos() {
        let tags: Vec<(&str, &str)> = s.tags.iter().map(|(k, v)| (&**k, &**v)).collect();
        memory.insert("cpu", &tags, &s.field, &[(1, 1.0)]);
        plain.insert("cpu", &tags, &s.field, &[(1, 1.0)]);
        batch.push(pts("cpu", &tags, &s.field, &[(1, 1.0)]));
    }
    memory.insert("mem", &[("host", "web-00")], "used", &[(1, 1.0)]);
    plain.insert("mem", &[("host", "web-00")], "used", &[(1, 1.0)]);
    batch.push(pts("mem", &[("host", "web-00")], "used", &[(1, 1.0)]));
    store.write_series(batch).unwrap();
    let tsm = TsmAdapter::new(Arc::clone(&store));
    let plain = Plain(plain);
    let adapters: [&dyn StorageAdapter; 3] = [&tsm, &memory, &plain];
    let predicates = [
        P::True,
        P::Eq("dc".into(), "eu".into()),
        P::NotEq("dc".into(), "eu".into()),
        P::In(
            "host".into(),
            vec!["web-01".into(), "web-07".into(), "nope".into()],
        ),
        P::Regex("host".into(), Pattern::regex("0[0-4]$").unwrap()),
        P::Not(Box::new(P::Eq("host".into(), "web-03".into()))),
    ];
    for p in &predicates {
        // the reference: distinct tag sets of the matching series
        let want: Vec<TagPairs> = infos()
            .iter()
            .filter(|s| p.matches(s))
            .map(|s| s.tags.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        for a in adapters {
            assert_eq!(
                a.series_keys("cpu", p).await.unwrap(),
                want,
                "{} {p}",
                a.name()
            );
        }
    }
    // every host once (fields are not part of a series key): 12; dc = eu
    // is hosts 0, 3, 6, 9; != eu also matches host 7 without a dc
    assert_eq!(tsm.series_keys("cpu", &P::True).await.unwrap().len(), 12);
    assert_eq!(
        tsm.series_keys("cpu", &predicates[1]).await.unwrap().len(),
        4
    );
    assert_eq!(
        tsm.series_keys("cpu", &predicates[2]).await.unwrap().len(),
        8
    );
    assert!(tsm.series_keys("nope", &P::True).await.unwrap().is_empty());
    // the default field types call every field a float
    assert_eq!(
        plain.field_types("cpu").await.unwrap(),
        [
            ("s".to_string(), ValueType::Float),
            ("u".to_string(), ValueType::Float)
        ]
    );
}

#[tokio::test]
async fn tsm_field_types_are_the_stored_types() {
    let d = dir("field_types");
    let store = Arc::new(Store::open(&d, StoreOptions::default()).unwrap().0);
    let sp = |field: &str, values: Values| SeriesPoints {
        series: SeriesInfo::new("m", &[("host", "a")], field),
        times: vec![1],
        values,
    };
    store
        .write_series(vec![
            sp("f", Values::Float(vec![1.5])),
            sp("i", Values::Integer(vec![-3])),
            sp("u", Values::Unsigned(vec![5])),
            sp("b", Values::Boolean(vec![true])),
            sp("s", Values::String(vec!["x".into()])),
        ])
        .unwrap();
    let a = TsmAdapter::new(store);
    let types: Vec<(String, &str)> = a
        .field_types("m")
        .await
        .unwrap()
        .into_iter()
        .map(|(f, t)| (f, t.name()))
        .collect();
    let want = [
        ("b", "boolean"),
        ("f", "float"),
        ("i", "integer"),
        ("s", "string"),
        ("u", "unsigned"),
    ];
    let want: Vec<(String, &str)> = want.iter().map(|(f, t)| (f.to_string(), *t)).collect();
    assert_eq!(types, want);
}
