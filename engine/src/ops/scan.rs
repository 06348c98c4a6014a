//! `ScanOp`: the leaf of every query pipeline (step 1 of the evaluation
//! order of `docs/semantics.md`). It reads a
//! [`ScanRequest`] through a [`StorageAdapter`] and applies whatever part of
//! the request the adapter's [`Capabilities`] did not: the tag predicate
//! (evaluated once per series of the scan's registry) and the time range.
//! Filtering is vectorized: one boolean mask per batch, built run by run, then
//! Arrow's `filter_record_batch`.

use std::sync::Arc;

use arrow::array::BooleanArray;
use arrow::array::BooleanBufferBuilder;
use arrow::compute::filter_record_batch;
use async_trait::async_trait;

use crate::batch::TimelineBatch;
use crate::context::TaskContext;
use crate::error::{EngineError, Result};
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;
use crate::ops::driver::Lifecycle;
use crate::partition::Partition;
use crate::registry::SeriesRegistry;
use crate::shared_scan::{ScanShares, SharedScan};
use crate::storage::{Capabilities, ScanRequest, SeriesScan, StorageAdapter, TimeRange};

/// Reads timelines from a storage adapter, filtering what it did not.
///
/// ```text
///   adapter.scan(request) ──batches──▶ [series mask ∧ time range] ──▶ out
///                                       (only the parts the adapter
///                                        does not declare it handles)
/// ```
pub struct ScanOp {
    adapter: Arc<dyn StorageAdapter>,
    request: ScanRequest,
    caps: Capabilities,
    ctx: Option<TaskContext>,
    scan: Option<Box<dyn SeriesScan>>,
    /// `matches[series_id]` when ScanOp applies the predicate (or keeps
    /// one partition's series) itself.
    matches: Option<Vec<bool>>,
    /// The partition of the timelines this scan reads, if partitioned.
    partition: Option<Partition>,
    /// Resolve an unbounded range from the data at open.
    resolve_range: bool,
    /// The range of the scan: the request's when bounded, else resolved at
    /// open (with `resolve_range`).
    range: Option<(i64, i64)>,
    /// The shared scan this one is a member of, and its slot
    /// (`docs/architecture.md`, "One scan for several fields").
    shared: Option<(Arc<SharedScan>, usize)>,
    /// Rows per batch asked of the adapter, in batch sizes of the context
    /// (1 unless [`with_batch_factor`](Self::with_batch_factor)).
    batch_factor: usize,
    lifecycle: Lifecycle,
    metrics: OperatorMetrics,
}

impl std::fmt::Debug for ScanOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOp")
            .field("adapter", &self.adapter)
            .field("request", &self.request)
            .field("open", &self.scan.is_some())
            .finish()
    }
}

impl ScanOp {
    /// A scan of `request` through `adapter`.
    pub fn new(adapter: Arc<dyn StorageAdapter>, request: ScanRequest) -> Self {
        let caps = adapter.capabilities();
        let range = match (request.range.start, request.range.end) {
            (Some(start), Some(end)) => Some((start, end.max(start))),
            _ => None,
        };
        ScanOp {
            adapter,
            request,
            caps,
            ctx: None,
            scan: None,
            matches: None,
            partition: None,
            resolve_range: false,
            range,
            shared: None,
            batch_factor: 1,
            lifecycle: Lifecycle::default(),
            metrics: OperatorMetrics::default(),
        }
    }

    /// This scan restricted to the timelines of `partition`
    /// (`docs/architecture.md`, "Partitions and partial aggregates").
    pub fn with_partition(mut self, partition: Partition) -> Self {
        self.partition = Some(partition);
        self
    }

    /// This scan reading batches of up to `factor` × the context's batch
    /// size (at least 1×): for a parent that keeps a small fraction of its
    /// input (a downsampling), whose per-batch costs and batch-split
    /// timelines then come `factor` times less often
    /// (`docs/architecture.md`, "Timeline batches").
    pub fn with_batch_factor(mut self, factor: usize) -> Self {
        self.batch_factor = factor.max(1);
        self
    }

    /// This scan of an unbounded request over `range`, resolved from the
    /// data before it was built (once for every partition of a query, so
    /// that they agree on one grid): it reads only that range, as a scan
    /// that resolves its range at open does, and reports it as its
    /// [`output_range`](Operator::output_range). A bounded request keeps
    /// its own.
    pub fn with_resolved_range(mut self, range: (i64, i64)) -> Self {
        if self.range.is_none() {
            self.range = Some(range);
        }
        self
    }

    /// This scan as a member of the shared scan of its series selection in
    /// `shares` (`docs/architecture.md`, "One scan for several fields"):
    /// the first member to open starts every member's scan with one adapter
    /// call. A scan that resolves its range at open reads a range not known
    /// yet, so it does not join and starts its own.
    pub fn shared_in(mut self, shares: &ScanShares) -> Self {
        if let Some(request) = self.planned_request() {
            let joined = shares.join(&self.adapter, &request, self.partition.as_ref());
            self.shared = Some(joined);
        }
        self
    }

    /// The request the scan will start, when it is known before open: the
    /// request, clipped to the resolved range when it is unbounded.
    fn planned_request(&self) -> Option<ScanRequest> {
        let unbounded = self
            .request
            .range
            .start
            .zip(self.request.range.end)
            .is_none();
        match self.range {
            Some((start, end)) if unbounded => {
                let mut clipped = self.request.clone();
                clipped.range = TimeRange::new(start, end);
                Some(clipped)
            }
            None if self.resolve_range && unbounded => None,
            _ => Some(self.request.clone()),
        }
    }

    /// A scan that, when its range is unbounded, resolves it from the data
    /// at open (`docs/semantics.md`: with no time bound, the range is the
    /// span of the matching data; an empty range at the bound, or at 0,
    /// when nothing matches) and reports it as its
    /// [`output_range`](Operator::output_range). Building it does no I/O,
    /// so `EXPLAIN` does none.
    pub fn resolving_range(adapter: Arc<dyn StorageAdapter>, request: ScanRequest) -> Self {
        ScanOp {
            resolve_range: true,
            ..Self::new(adapter, request)
        }
    }

    /// The query range of `request` with unbounded ends taken from the
    /// matching data.
    async fn resolve(adapter: &dyn StorageAdapter, request: &ScanRequest) -> Result<(i64, i64)> {
        let range = request.range;
        let span = adapter.time_span(request).await?;
        Ok(range.resolve(span).unwrap_or_else(|| {
            let at = range.start.or(range.end).unwrap_or(0);
            (at, at)
        }))
    }

    /// Starts `adapter`'s scan of `request`, of `partition` only when
    /// there is one.
    async fn start(
        adapter: &dyn StorageAdapter,
        partition: Option<&Partition>,
        request: &ScanRequest,
    ) -> Result<Box<dyn SeriesScan>> {
        match partition {
            Some(p) => adapter.scan_partition(request, p).await,
            None => adapter.scan(request).await,
        }
    }

    /// Keeps the opened `scan` and which of its series it passes on: those
    /// that match the predicate (when the adapter does not filter them) and
    /// belong to its partition.
    fn opened(&mut self, scan: Box<dyn SeriesScan>) -> Result<()> {
        self.matches = self
            .filters_tags()
            .then(|| self.series_mask(scan.registry()));
        if let Some(p) = &self.partition {
            let keep = p.mask(scan.registry());
            self.matches = Some(match self.matches.take() {
                Some(m) => m.iter().zip(&keep).map(|(a, b)| *a && *b).collect(),
                None => keep,
            });
        }
        self.scan = Some(scan);
        self.lifecycle.opened();
        Ok(())
    }

    /// True when ScanOp evaluates the tag predicate itself.
    fn filters_tags(&self) -> bool {
        !self.caps.tag_pushdown && !self.request.predicate.is_true()
    }

    /// True when ScanOp drops points outside the time range itself.
    fn filters_time(&self) -> bool {
        !self.caps.time_pruning && self.request.range != TimeRange::ALL
    }

    /// Keeps the rows of `batch` that pass the series mask and time range;
    /// `None` when no row is left.
    fn filter(&self, batch: TimelineBatch) -> Result<Option<TimelineBatch>> {
        let filter_time = self.filters_time();
        if self.matches.is_none() && !filter_time {
            return Ok((!batch.is_empty()).then_some(batch));
        }
        let range = if filter_time {
            self.request.range
        } else {
            TimeRange::ALL
        };
        let mut mask = BooleanBufferBuilder::new(batch.num_rows());
        let mut kept = 0;
        for tl in batch.timelines() {
            let matches = self
                .matches
                .as_ref()
                .is_none_or(|m| m.get(tl.series_id as usize).copied().unwrap_or(false));
            if !matches {
                mask.append_n(tl.len(), false);
                continue;
            }
            // Times are sorted: the rows in range are one contiguous slice.
            let lo = range
                .start
                .map_or(0, |s| tl.times.partition_point(|&t| t < s));
            let hi = range
                .end
                .map_or(tl.len(), |e| tl.times.partition_point(|&t| t < e))
                .max(lo);
            mask.append_n(lo, false);
            mask.append_n(hi - lo, true);
            mask.append_n(tl.len() - hi, false);
            kept += hi - lo;
        }
        if kept == 0 {
            return Ok(None);
        }
        if kept == batch.num_rows() {
            return Ok(Some(batch));
        }
        let mask = BooleanArray::new(mask.finish(), None);
        let filtered = filter_record_batch(batch.record_batch(), &mask)?;
        TimelineBatch::try_new(filtered, Arc::clone(batch.registry())).map(Some)
    }

    /// The per-series predicate mask over the scan's registry.
    fn series_mask(&self, registry: &SeriesRegistry) -> Vec<bool> {
        registry
            .iter()
            .map(|(_, s)| self.request.predicate.matches(s))
            .collect()
    }
}

#[async_trait]
impl Operator for ScanOp {
    fn name(&self) -> &'static str {
        "ScanOp"
    }

    fn display(&self) -> String {
        let list = |items: Vec<&str>| {
            if items.is_empty() {
                "none".to_string()
            } else {
                items.join(", ")
            }
        };
        let mut pushdown = Vec::new();
        if self.caps.time_pruning {
            pushdown.push("time");
        }
        if self.caps.tag_pushdown {
            pushdown.push("tags");
        }
        let mut filter = Vec::new();
        if self.filters_time() {
            filter.push("time");
        }
        if self.filters_tags() {
            filter.push("tags");
        }
        let r = &self.request;
        let mut line = format!(
            "ScanOp: adapter={} measurement={} field={} range={} predicate={} pushdown=[{}] filter=[{}]",
            self.adapter.name(),
            r.measurement,
            r.field,
            r.range,
            r.predicate,
            list(pushdown),
            list(filter)
        );
        if let Some(order) = &r.group_order {
            line.push_str(&format!(" order={order}"));
        }
        if let Some(p) = &self.partition {
            line.push_str(&format!(" partition={p}"));
        }
        line
    }

    async fn open(&mut self, ctx: &TaskContext) -> Result<()> {
        self.lifecycle.check_open("ScanOp")?;
        self.ctx = Some(ctx.clone());
        let unbounded = self
            .request
            .range
            .start
            .zip(self.request.range.end)
            .is_none();
        if self.resolve_range && unbounded {
            self.range = Some(Self::resolve(self.adapter.as_ref(), &self.request).await?);
        }
        if let Some((shared, slot)) = &self.shared {
            if let Some(scan) = shared.take(*slot).await? {
                return self.opened(scan);
            }
        }
        let (adapter, partition) = (self.adapter.as_ref(), self.partition.as_ref());
        let scan = match self.range {
            // The scan reads the resolved range only: a point written after
            // the span was looked up (later than its end) is not this
            // query's, and would lie outside the buckets the parent made.
            Some((start, end)) if unbounded => {
                let mut clipped = self.request.clone();
                clipped.range = TimeRange::new(start, end);
                Self::start(adapter, partition, &clipped).await?
            }
            _ => Self::start(adapter, partition, &self.request).await?,
        };
        self.opened(scan)
    }

    async fn next(&mut self) -> Result<Option<TimelineBatch>> {
        if !self.lifecycle.check_next("ScanOp")? {
            return Ok(None);
        }
        let (Some(ctx), Some(_)) = (&self.ctx, &self.scan) else {
            return Err(EngineError::execution("ScanOp", "open did not finish"));
        };
        let batch_size = ctx.batch_size.saturating_mul(self.batch_factor);
        let cancel = ctx.cancel.clone();
        loop {
            cancel.check()?;
            let Some(scan) = self.scan.as_mut() else {
                return Err(EngineError::execution("ScanOp", "open did not finish"));
            };
            let Some(batch) = scan.next_batch(batch_size).await? else {
                self.lifecycle.done();
                return Ok(None);
            };
            self.metrics.record_in(batch.num_rows());
            let started = self.metrics.start();
            let out = self.filter(batch);
            self.metrics.stop(started);
            if let Some(out) = out? {
                self.metrics.record_out(out.num_rows());
                return Ok(Some(out));
            }
        }
    }

    async fn close(&mut self) -> Result<()> {
        self.scan = None;
        self.matches = None;
        if self.resolve_range {
            // A re-run resolves the range again, from the data then.
            self.range = None;
        }
        self.lifecycle.closed();
        Ok(())
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    fn children(&self) -> Vec<&dyn Operator> {
        Vec::new()
    }

    fn output_range(&self) -> Option<(i64, i64)> {
        self.range
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::collect;
    use crate::predicate::TagPredicate;
    use crate::registry::SeriesInfo;
    use crate::spec::GroupBy;

    type Points = Vec<(i64, f64)>;

    /// An adapter over a fixed list of series that honours exactly the
    /// capabilities it declares and returns everything else unfiltered.
    #[derive(Debug)]
    struct TestAdapter {
        series: Vec<(SeriesInfo, Points)>,
        caps: Capabilities,
    }

    struct TestScan {
        registry: Arc<SeriesRegistry>,
        rows: Vec<(u32, i64, f64)>,
        pos: usize,
    }

    #[async_trait]
    impl SeriesScan for TestScan {
        fn registry(&self) -> &Arc<SeriesRegistry> {
            &self.registry
        }

        async fn next_batch(&mut self, max_rows: usize) -> Result<Option<TimelineBatch>> {
            if self.pos >= self.rows.len() {
                return Ok(None);
            }
            let end = (self.pos + max_rows).min(self.rows.len());
            let rows = &self.rows[self.pos..end];
            self.pos = end;
            TimelineBatch::from_columns(
                rows.iter().map(|r| r.0).collect(),
                rows.iter().map(|r| r.1).collect(),
                rows.iter().map(|r| r.2).collect(),
                None,
                Arc::clone(&self.registry),
            )
            .map(Some)
        }
    }

    impl TestAdapter {
        fn new(caps: Capabilities) -> Self {
            let s = |host: &str| SeriesInfo::new("cpu", &[("host", host)], "usage");
            TestAdapter {
                series: vec![
                    (s("a"), vec![(0, 1.0), (10, 2.0), (20, 3.0), (30, 4.0)]),
                    (s("b"), vec![(5, 10.0), (15, 20.0), (25, 30.0)]),
                    (s("c"), vec![(10, 100.0), (40, 400.0)]),
                ],
                caps,
            }
        }

        /// The series and points the adapter delivers for `req`.
        fn delivered(&self, req: &ScanRequest, always: bool) -> Vec<(SeriesInfo, Points)> {
            self.series
                .iter()
                .filter(|(s, _)| !(always || self.caps.tag_pushdown) || req.predicate.matches(s))
                .map(|(s, pts)| {
                    let keep =
                        |t: i64| !(always || self.caps.time_pruning) || req.range.contains(t);
                    let pts = pts.iter().copied().filter(|p| keep(p.0)).collect();
                    (s.clone(), pts)
                })
                .collect()
        }
    }

    #[async_trait]
    impl StorageAdapter for TestAdapter {
        fn name(&self) -> &str {
            "test"
        }

        fn capabilities(&self) -> Capabilities {
            self.caps
        }

        async fn scan(&self, request: &ScanRequest) -> Result<Box<dyn SeriesScan>> {
            let delivered = self.delivered(request, false);
            let mut rows = Vec::new();
            for (id, (_, pts)) in delivered.iter().enumerate() {
                rows.extend(pts.iter().map(|&(t, v)| (id as u32, t, v)));
            }
            let registry = SeriesRegistry::new(delivered.into_iter().map(|d| d.0).collect());
            Ok(Box::new(TestScan {
                registry: Arc::new(registry),
                rows,
                pos: 0,
            }))
        }

        async fn time_span(&self, request: &ScanRequest) -> Result<Option<(i64, i64)>> {
            let times = self.delivered(request, true).into_iter().flat_map(|d| d.1);
            let times: Vec<i64> = times.map(|p| p.0).collect();
            Ok(times
                .iter()
                .min()
                .zip(times.iter().max())
                .map(|(a, b)| (*a, *b)))
        }

        async fn measurements(&self) -> Result<Vec<String>> {
            Ok(vec!["cpu".into()])
        }

        async fn fields(&self, _: &str) -> Result<Vec<String>> {
            Ok(vec!["usage".into()])
        }

        async fn tag_keys(&self, _: &str) -> Result<Vec<String>> {
            Ok(vec!["host".into()])
        }

        async fn tag_values(&self, _: &str, _: &str) -> Result<Vec<String>> {
            Ok(vec!["a".into(), "b".into(), "c".into()])
        }

        async fn series_count(&self, _: &str) -> Result<usize> {
            Ok(self.series.len())
        }
    }

    fn request(predicate: TagPredicate, range: TimeRange) -> ScanRequest {
        ScanRequest {
            predicate,
            range,
            ..ScanRequest::new("cpu", "usage")
        }
    }

    fn host(v: &str) -> TagPredicate {
        TagPredicate::Eq("host".into(), v.into())
    }

    /// Runs the scan with `batch_size` and flattens the output to
    /// `(host, time, value)`, checking batch limits on the way.
    #[test]
    fn a_batch_factor_multiplies_the_rows_per_batch() {
        // 9 points, every capability: batches of up to 2 × 2 rows
        let adapter = Arc::new(TestAdapter::new(Capabilities::ALL));
        let mut op = ScanOp::new(adapter, ScanRequest::new("cpu", "usage")).with_batch_factor(2);
        let ctx = TaskContext::with_batch_size(2);
        let batches = futures::executor::block_on(collect(&mut op, &ctx)).unwrap();
        let sizes: Vec<usize> = batches.iter().map(|b| b.num_rows()).collect();
        assert_eq!(sizes, [4, 4, 1]);
    }

    async fn run(op: &mut ScanOp, batch_size: usize) -> Vec<(String, i64, f64)> {
        let ctx = TaskContext::with_batch_size(batch_size);
        let batches = collect(op, &ctx).await.unwrap();
        let mut out = Vec::new();
        for b in &batches {
            assert!(!b.is_empty() && b.num_rows() <= batch_size);
            for tl in b.timelines() {
                let h = b.registry().get(tl.series_id).unwrap().tag("host").unwrap();
                for i in 0..tl.len() {
                    out.push((h.to_string(), tl.times[i], tl.values[i]));
                }
            }
        }
        assert_eq!(op.metrics().rows_out as usize, out.len());
        assert_eq!(op.metrics().batches_out as usize, batches.len());
        out
    }

    fn rows(expected: &[(&str, i64, f64)]) -> Vec<(String, i64, f64)> {
        expected
            .iter()
            .map(|&(h, t, v)| (h.to_string(), t, v))
            .collect()
    }

    fn scan(caps: Capabilities, req: ScanRequest) -> ScanOp {
        ScanOp::new(Arc::new(TestAdapter::new(caps)), req)
    }

    #[tokio::test]
    async fn full_pushdown_is_passed_through() {
        let req = request(host("a"), TimeRange::new(10, 30));
        for bs in [1, 2, 4096] {
            let mut op = scan(Capabilities::ALL, req.clone());
            // the adapter already kept host=a, t in [10, 30): 10 and 20
            assert_eq!(
                run(&mut op, bs).await,
                rows(&[("a", 10, 2.0), ("a", 20, 3.0)])
            );
            assert_eq!(op.metrics().rows_in, 2);
        }
        let op = scan(Capabilities::ALL, req);
        assert_eq!(
            op.display(),
            "ScanOp: adapter=test measurement=cpu field=usage range=[10, 30) \
             predicate=host = 'a' pushdown=[time, tags] filter=[none]"
        );
    }

    #[tokio::test]
    async fn predicate_is_applied_without_tag_pushdown() {
        let caps = Capabilities {
            tag_pushdown: false,
            ..Capabilities::ALL
        };
        let pred = TagPredicate::NotEq("host".into(), "b".into());
        let req = request(pred, TimeRange::ALL);
        // a (4 points) and c (2 points) pass; b's 3 points are dropped
        let expected = rows(&[
            ("a", 0, 1.0),
            ("a", 10, 2.0),
            ("a", 20, 3.0),
            ("a", 30, 4.0),
            ("c", 10, 100.0),
            ("c", 40, 400.0),
        ]);
        for bs in [1, 3, 4096] {
            let mut op = scan(caps, req.clone());
            assert_eq!(run(&mut op, bs).await, expected, "batch size {bs}");
            assert_eq!(op.metrics().rows_in, 9);
        }
        assert_eq!(
            scan(caps, req).display(),
            "ScanOp: adapter=test measurement=cpu field=usage range=[-∞, ∞) \
             predicate=host != 'b' pushdown=[time] filter=[tags]"
        );
    }

    #[tokio::test]
    async fn time_range_is_applied_without_time_pruning() {
        let caps = Capabilities {
            time_pruning: false,
            ..Capabilities::ALL
        };
        let pred = TagPredicate::In("host".into(), vec!["a".into(), "b".into()]);
        let req = request(pred, TimeRange::new(10, 26));
        // [10, 26): a keeps 10, 20; b keeps 15, 25
        let expected = rows(&[
            ("a", 10, 2.0),
            ("a", 20, 3.0),
            ("b", 15, 20.0),
            ("b", 25, 30.0),
        ]);
        for bs in [1, 2, 5, 4096] {
            let mut op = scan(caps, req.clone());
            assert_eq!(run(&mut op, bs).await, expected, "batch size {bs}");
            assert_eq!(op.metrics().rows_in, 7);
        }
        let mut op = scan(caps, req);
        op.request.group_order = Some(GroupBy::Tags(vec!["dc".into()]));
        assert_eq!(
            op.display(),
            "ScanOp: adapter=test measurement=cpu field=usage range=[10, 26) \
             predicate=host IN ('a', 'b') pushdown=[tags] filter=[time] order=[dc]"
        );
    }

    #[tokio::test]
    async fn no_capability_filters_both() {
        let req = request(host("c"), TimeRange::new(i64::MIN, 40));
        for bs in [1, 4096] {
            let mut op = scan(Capabilities::NONE, req.clone());
            // c before 40: only (10, 100)
            assert_eq!(run(&mut op, bs).await, rows(&[("c", 10, 100.0)]));
        }
        assert!(scan(Capabilities::NONE, req)
            .display()
            .ends_with("pushdown=[none] filter=[time, tags]"));
    }

    #[tokio::test]
    async fn empty_result_emits_no_batch() {
        let req = request(host("zzz"), TimeRange::new(0, 100));
        for caps in [Capabilities::ALL, Capabilities::NONE] {
            let mut op = scan(caps, req.clone());
            let out = collect(&mut op, &TaskContext::with_batch_size(2))
                .await
                .unwrap();
            assert!(out.is_empty());
            assert_eq!(op.metrics().batches_out, 0);
        }
        // without pushdown every point was read and dropped: 4 + 3 + 2
        let mut op = scan(Capabilities::NONE, req);
        collect(&mut op, &TaskContext::default()).await.unwrap();
        assert_eq!(op.metrics().rows_in, 9);
    }

    #[tokio::test]
    async fn cancellation_stops_the_scan() {
        let mut op = scan(
            Capabilities::ALL,
            request(TagPredicate::True, TimeRange::ALL),
        );
        let ctx = TaskContext::with_batch_size(1);
        op.open(&ctx).await.unwrap();
        assert!(op.next().await.unwrap().is_some());
        ctx.cancel.cancel();
        assert!(matches!(op.next().await, Err(EngineError::Cancelled)));
        op.close().await.unwrap();
        assert!(matches!(
            op.next().await,
            Err(EngineError::Execution { .. })
        ));
    }
}
