//! What every shard must agree on to plan a statement the same way
//! (`docs/distributed.md`, "What runs where"): the measurement's fields
//! and tag keys, what the adapters can do, and the time span of the data
//! an unbounded query range resolves to. Each worker describes its own
//! ([`ShardCatalog::describe`]); the coordinator takes the union
//! ([`ShardCatalog::union`]) and ships it with the statement. Planning
//! over a [`CatalogView`] of the union then gives every worker and the
//! coordinator one plan and one bucket grid, the plan one store holding
//! every shard's data makes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use prost::Message;
use tsq_engine::partition::Partition;
use tsq_engine::{
    Capabilities, EngineError, ScanRequest, SeriesScan, StorageAdapter, TagPredicate, TimelineBatch,
};
use tsq_planner::ast::StatementBody;
use tsq_planner::{Session, SessionConfig};

use crate::error::{Error, Result};

/// One shard's (or the union's) catalog of a statement's measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardCatalog {
    /// The adapter's name (EXPLAIN).
    pub adapter: String,
    /// What the adapter does itself.
    pub capabilities: Capabilities,
    /// The measurement.
    pub measurement: String,
    /// True when the measurement has data here.
    pub exists: bool,
    /// Its fields, sorted.
    pub fields: Vec<String>,
    /// Its tag keys, sorted.
    pub tag_keys: Vec<String>,
    /// The data span (inclusive) of each scan the plan makes, over the
    /// whole time range: keyed by [`span_key`].
    pub spans: BTreeMap<String, Option<(i64, i64)>>,
}

/// The key of a scan's span: measurement, field, tag predicate (the range
/// is not part of it: see [`CatalogView`]).
pub(crate) fn span_key(request: &ScanRequest) -> String {
    format!(
        "{}\u{1f}{}\u{1f}{:?}",
        request.measurement, request.field, request.predicate
    )
}

#[derive(Clone, PartialEq, prost::Message)]
struct SpanProto {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(int64, optional, tag = "2")]
    first: Option<i64>,
    #[prost(int64, optional, tag = "3")]
    last: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct CatalogProto {
    #[prost(string, tag = "1")]
    adapter: String,
    #[prost(bool, repeated, tag = "2")]
    capabilities: Vec<bool>,
    #[prost(string, tag = "3")]
    measurement: String,
    #[prost(bool, tag = "4")]
    exists: bool,
    #[prost(string, repeated, tag = "5")]
    fields: Vec<String>,
    #[prost(string, repeated, tag = "6")]
    tag_keys: Vec<String>,
    #[prost(message, repeated, tag = "7")]
    spans: Vec<SpanProto>,
}

/// The measurement a `SELECT` reads; an error for anything else.
pub(crate) fn measurement_of(sql: &str) -> Result<String> {
    let statement = tsq_planner::parse_statement(sql)?;
    match (&statement.body, statement.explain) {
        (StatementBody::Select(q), None) => Ok(q.measurement.value.clone()),
        _ => Err(Error::Cluster(
            "a cluster query is one SELECT statement (EXPLAIN and SHOW run on one store)".into(),
        )),
    }
}

impl ShardCatalog {
    /// This shard's catalog for `sql`: the measurement's fields and tag
    /// keys, and the span of each scan of the plan `adapter` alone makes.
    pub async fn describe(
        adapter: &Arc<dyn StorageAdapter>,
        config: &SessionConfig,
        sql: &str,
    ) -> Result<Self> {
        let measurement = measurement_of(sql)?;
        let exists = adapter.measurements().await?.contains(&measurement);
        let (fields, tag_keys) = if exists {
            (
                adapter.fields(&measurement).await?,
                adapter.tag_keys(&measurement).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let mut spans = BTreeMap::new();
        if exists {
            let session = Session::new(Arc::clone(adapter), config.clone());
            let statement = tsq_planner::parse_statement(sql)?;
            let (plan, _) = session.plan(&statement).await?;
            for p in &plan.pipelines {
                let mut whole = p.spec.scan.clone();
                whole.range = tsq_engine::TimeRange::ALL;
                whole.group_order = None;
                spans.insert(span_key(&whole), adapter.time_span(&whole).await?);
            }
        }
        Ok(ShardCatalog {
            adapter: adapter.name().to_string(),
            capabilities: adapter.capabilities(),
            measurement,
            exists,
            fields,
            tag_keys,
            spans,
        })
    }

    /// The catalog of all shards together: fields and tag keys of any,
    /// the capabilities every one has, each scan's span over all. Fails
    /// when the shards describe different measurements (or none answers).
    pub fn union(shards: &[ShardCatalog]) -> Result<Self> {
        let Some(first) = shards.first() else {
            return Err(Error::Protocol("no shard described the query".into()));
        };
        let mut fields = BTreeSet::new();
        let mut tag_keys = BTreeSet::new();
        let mut spans: BTreeMap<String, Option<(i64, i64)>> = BTreeMap::new();
        let mut caps = first.capabilities;
        for s in shards {
            if s.measurement != first.measurement {
                return Err(Error::Protocol(format!(
                    "shards describe measurements {} and {}",
                    first.measurement, s.measurement
                )));
            }
            fields.extend(s.fields.iter().cloned());
            tag_keys.extend(s.tag_keys.iter().cloned());
            caps.time_pruning &= s.capabilities.time_pruning;
            caps.tag_pushdown &= s.capabilities.tag_pushdown;
            caps.ordered_by_group &= s.capabilities.ordered_by_group;
            caps.last_point &= s.capabilities.last_point;
            for (key, span) in &s.spans {
                let entry = spans.entry(key.clone()).or_insert(None);
                *entry = match (*entry, *span) {
                    (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
                    (a, b) => a.or(b),
                };
            }
        }
        Ok(ShardCatalog {
            adapter: first.adapter.clone(),
            capabilities: caps,
            measurement: first.measurement.clone(),
            exists: shards.iter().any(|s| s.exists),
            fields: fields.into_iter().collect(),
            tag_keys: tag_keys.into_iter().collect(),
            spans,
        })
    }

    /// Protobuf bytes.
    pub fn encode(&self) -> Vec<u8> {
        let c = self.capabilities;
        CatalogProto {
            adapter: self.adapter.clone(),
            capabilities: vec![
                c.time_pruning,
                c.tag_pushdown,
                c.ordered_by_group,
                c.last_point,
            ],
            measurement: self.measurement.clone(),
            exists: self.exists,
            fields: self.fields.clone(),
            tag_keys: self.tag_keys.clone(),
            spans: self
                .spans
                .iter()
                .map(|(key, span)| SpanProto {
                    key: key.clone(),
                    first: span.map(|s| s.0),
                    last: span.map(|s| s.1),
                })
                .collect(),
        }
        .encode_to_vec()
    }

    /// From protobuf bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let p = CatalogProto::decode(bytes)
            .map_err(|e| Error::Protocol(format!("shard catalog: {e}")))?;
        let [time_pruning, tag_pushdown, ordered_by_group, last_point] = p.capabilities[..] else {
            return Err(Error::Protocol(format!(
                "shard catalog: {} capabilities, expected 4",
                p.capabilities.len()
            )));
        };
        Ok(ShardCatalog {
            adapter: p.adapter,
            capabilities: Capabilities {
                time_pruning,
                tag_pushdown,
                ordered_by_group,
                last_point,
            },
            measurement: p.measurement,
            exists: p.exists,
            fields: p.fields,
            tag_keys: p.tag_keys,
            spans: p
                .spans
                .into_iter()
                .map(|s| (s.key, s.first.zip(s.last)))
                .collect(),
        })
    }
}

/// A store seen through a cluster's [`ShardCatalog`]: the catalog and the
/// data spans are the union's, the scans are the shard's own (`inner`;
/// the coordinator, which only plans, has none).
///
/// A span is answered from the span over the whole range: a planner asks
/// for it only to resolve an unbounded end of a range, and the first point
/// at or after a bound `start` is needed only when the end is bounded too,
/// which needs no span. So for `[start, ∞)` the last point is the whole
/// span's last when it is at or after `start` (else nothing matches), and
/// for `(-∞, end)` the first is the whole span's first when it is before
/// `end`: exactly what one store holding every shard answers for the ends
/// the planner and the engine read.
#[derive(Clone)]
pub struct CatalogView {
    catalog: Arc<ShardCatalog>,
    inner: Option<Arc<dyn StorageAdapter>>,
}

impl CatalogView {
    /// `inner` (a worker's store, or `None` on the coordinator) seen
    /// through `catalog`.
    pub fn new(catalog: Arc<ShardCatalog>, inner: Option<Arc<dyn StorageAdapter>>) -> Self {
        CatalogView { catalog, inner }
    }

    fn inner(&self) -> tsq_engine::Result<&Arc<dyn StorageAdapter>> {
        self.inner.as_ref().ok_or_else(|| {
            EngineError::execution(
                "CatalogView",
                "the coordinator plans a cluster query but reads no data",
            )
        })
    }
}

impl fmt::Debug for CatalogView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CatalogView")
            .field("measurement", &self.catalog.measurement)
            .field("store", &self.inner.as_ref().map(|a| a.name().to_string()))
            .finish()
    }
}

#[async_trait]
impl StorageAdapter for CatalogView {
    fn name(&self) -> &str {
        &self.catalog.adapter
    }

    fn capabilities(&self) -> Capabilities {
        self.catalog.capabilities
    }

    async fn scan(&self, request: &ScanRequest) -> tsq_engine::Result<Box<dyn SeriesScan>> {
        self.inner()?.scan(request).await
    }

    async fn scan_partition(
        &self,
        request: &ScanRequest,
        partition: &Partition,
    ) -> tsq_engine::Result<Box<dyn SeriesScan>> {
        self.inner()?.scan_partition(request, partition).await
    }

    async fn time_span(&self, request: &ScanRequest) -> tsq_engine::Result<Option<(i64, i64)>> {
        let key = span_key(request);
        let Some(span) = self.catalog.spans.get(&key) else {
            return Err(EngineError::execution(
                "CatalogView",
                format!(
                    "no shard described the data span of {}/{} where {:?}: the shards \
                     planned the statement differently",
                    request.measurement, request.field, request.predicate
                ),
            ));
        };
        let Some((first, last)) = *span else {
            return Ok(None);
        };
        let range = request.range;
        let first = range.start.map_or(first, |s| first.max(s));
        let last = range.end.map_or(last, |e| last.min(e.saturating_sub(1)));
        Ok((first <= last).then_some((first, last)))
    }

    async fn last_points(&self, request: &ScanRequest) -> tsq_engine::Result<TimelineBatch> {
        self.inner()?.last_points(request).await
    }

    async fn measurements(&self) -> tsq_engine::Result<Vec<String>> {
        Ok(if self.catalog.exists {
            vec![self.catalog.measurement.clone()]
        } else {
            Vec::new()
        })
    }

    async fn fields(&self, measurement: &str) -> tsq_engine::Result<Vec<String>> {
        Ok(if measurement == self.catalog.measurement {
            self.catalog.fields.clone()
        } else {
            Vec::new()
        })
    }

    async fn tag_keys(&self, measurement: &str) -> tsq_engine::Result<Vec<String>> {
        Ok(if measurement == self.catalog.measurement {
            self.catalog.tag_keys.clone()
        } else {
            Vec::new()
        })
    }

    async fn tag_values(&self, measurement: &str, key: &str) -> tsq_engine::Result<Vec<String>> {
        self.inner()?.tag_values(measurement, key).await
    }

    async fn series_count(&self, measurement: &str) -> tsq_engine::Result<usize> {
        self.inner()?.series_count(measurement).await
    }

    async fn series_keys(
        &self,
        measurement: &str,
        predicate: &TagPredicate,
    ) -> tsq_engine::Result<Vec<tsq_engine::registry::TagPairs>> {
        self.inner()?.series_keys(measurement, predicate).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(spans: &[(&str, Option<(i64, i64)>)], fields: &[&str]) -> ShardCatalog {
        ShardCatalog {
            adapter: "memory".into(),
            capabilities: Capabilities::ALL,
            measurement: "cpu".into(),
            exists: true,
            fields: fields.iter().map(|s| s.to_string()).collect(),
            tag_keys: vec!["host".into()],
            spans: spans.iter().map(|(k, s)| (k.to_string(), *s)).collect(),
        }
    }

    #[test]
    fn union_widens_spans_and_merges_fields() {
        let a = catalog(&[("k", Some((10, 20))), ("n", None)], &["a"]);
        let mut b = catalog(&[("k", Some((5, 15))), ("n", Some((7, 7)))], &["b"]);
        b.capabilities.last_point = false;
        let u = ShardCatalog::union(&[a, b]).unwrap();
        assert_eq!(u.spans["k"], Some((5, 20)));
        assert_eq!(u.spans["n"], Some((7, 7)));
        assert_eq!(u.fields, vec!["a", "b"]);
        assert!(!u.capabilities.last_point && u.capabilities.tag_pushdown);
        assert_eq!(ShardCatalog::decode(&u.encode()).unwrap(), u);
    }

    #[tokio::test]
    async fn view_answers_half_bounded_spans_from_the_whole_span() {
        let mut request = ScanRequest::new("cpu", "u");
        let key = span_key(&request);
        let view = CatalogView::new(Arc::new(catalog(&[(&key, Some((10, 20)))], &["u"])), None);
        assert_eq!(view.time_span(&request).await.unwrap(), Some((10, 20)));
        request.range.start = Some(15);
        assert_eq!(view.time_span(&request).await.unwrap(), Some((15, 20)));
        request.range.start = Some(21);
        assert_eq!(view.time_span(&request).await.unwrap(), None);
        request.range.start = None;
        request.range.end = Some(10);
        assert_eq!(view.time_span(&request).await.unwrap(), None);
        request.range.end = Some(12);
        assert_eq!(view.time_span(&request).await.unwrap(), Some((10, 11)));
        assert!(view.scan(&request).await.is_err());
    }
}
