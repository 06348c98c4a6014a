//! The operator contract: Open / Next / Close over timeline batches.
//!
//! A query pipeline is a tree of boxed [`Operator`]s; each operator owns its
//! children. The caller calls `open` once on the root (which opens its
//! children), then `next` until it returns `None`, then `close`; `next`
//! before `open` or after `close` is an error. The operators with one child
//! share one driver for that lifecycle, their metrics, cancellation and the
//! lifetime of their state ([`crate::ops::driver`]). The trait is
//! async so that an adapter over remote storage can plug in; the work inside
//! `next` is a tight synchronous loop over Arrow slices.
//!
//! ```text
//!   PipeAggOp ──next──▶ DsAggOp ──next──▶ ScanOp ──▶ StorageAdapter
//!       ▲ batch of group      ▲ batch of           ▲ batch of
//!         timelines             downsampled          raw timelines
//! ```

use std::fmt::Write as _;

use async_trait::async_trait;
use futures::Stream;

use crate::batch::TimelineBatch;
use crate::columns::ColumnsBatch;
use crate::context::TaskContext;
use crate::error::{EngineError, Result};
use crate::metrics::OperatorMetrics;
use crate::spec::BucketGrid;

/// One node of an operator DAG.
#[async_trait]
pub trait Operator: Send {
    /// Short name, e.g. `DsAggOp`.
    fn name(&self) -> &'static str;

    /// One line with the name and its parameters, as EXPLAIN prints it
    /// (`DsAggOp: interval=1m agg=avg fill=zero`).
    fn display(&self) -> String;

    /// Prepares the operator (and, first, its children) to produce batches.
    async fn open(&mut self, ctx: &TaskContext) -> Result<()>;

    /// The next batch, or `None` at the end of the stream.
    async fn next(&mut self) -> Result<Option<TimelineBatch>>;

    /// Releases state and closes the children. Safe to call more than once.
    async fn close(&mut self) -> Result<()>;

    /// This operator's own metrics.
    fn metrics(&self) -> &OperatorMetrics;

    /// The operator's children, in order.
    fn children(&self) -> Vec<&dyn Operator>;

    /// The query range `[start, end)` every output point lies in, when it
    /// is known: from construction for a bounded query, after `open` when
    /// it is resolved from the data (`docs/semantics.md`: with no time
    /// bound, the range is the span of the matching data). A parent takes
    /// it from here instead of being given it again.
    fn output_range(&self) -> Option<(i64, i64)> {
        None
    }

    /// The grid every output timestamp is a bucket start of, when there is
    /// one (a `DsAggOp` over a known range, and what passes its timestamps
    /// on); `PipeAggOp` takes its grid from here.
    fn output_grid(&self) -> Option<BucketGrid> {
        None
    }

    /// True for an operator that emits several value columns per row
    /// ([`ColumnsBatch`], read with [`next_columns`](Self::next_columns))
    /// instead of timelines of one (`LastPointsOp`).
    fn emits_columns(&self) -> bool {
        false
    }

    /// The next rows of an operator that [emits columns](Self::emits_columns),
    /// or `None` at the end. The others emit through [`next`](Self::next)
    /// and refuse this.
    async fn next_columns(&mut self) -> Result<Option<ColumnsBatch>> {
        Err(EngineError::execution(
            self.name(),
            "emits timelines of one value column: read it with next, not next_columns",
        ))
    }
}

/// Opens `root`, drains it and closes it, returning every batch.
pub async fn collect(root: &mut dyn Operator, ctx: &TaskContext) -> Result<Vec<TimelineBatch>> {
    root.open(ctx).await?;
    let mut out = Vec::new();
    let result = async {
        while let Some(batch) = root.next().await? {
            out.push(batch);
        }
        Ok(())
    }
    .await;
    let closed = root.close().await;
    result.and(closed).map(|_| out)
}

/// Opens `root` and turns it into a stream of batches; the operator is
/// closed when the stream ends or fails.
pub fn into_stream(
    root: Box<dyn Operator>,
    ctx: TaskContext,
) -> impl Stream<Item = Result<TimelineBatch>> + Send {
    enum State {
        Unopened,
        Open,
        Done,
    }
    futures::stream::unfold(
        (root, State::Unopened, ctx),
        |(mut root, mut state, ctx)| async move {
            loop {
                match state {
                    State::Done => return None,
                    State::Unopened => {
                        if let Err(e) = root.open(&ctx).await {
                            let _ = root.close().await;
                            return Some((Err(e), (root, State::Done, ctx)));
                        }
                        state = State::Open;
                    }
                    State::Open => {
                        return match root.next().await {
                            Ok(Some(b)) => Some((Ok(b), (root, State::Open, ctx))),
                            Ok(None) => {
                                let closed = root.close().await;
                                match closed {
                                    Ok(()) => None,
                                    Err(e) => Some((Err(e), (root, State::Done, ctx))),
                                }
                            }
                            Err(e) => {
                                let _ = root.close().await;
                                Some((Err(e), (root, State::Done, ctx)))
                            }
                        };
                    }
                }
            }
        },
    )
}

/// The operator tree as indented display lines (EXPLAIN).
pub fn format_tree(root: &dyn Operator) -> String {
    let mut out = String::new();
    walk(root, 0, &mut |op, depth| {
        let _ = writeln!(out, "{}{}", "  ".repeat(depth), op.display());
    });
    out
}

/// The operator tree with each operator's metrics (EXPLAIN ANALYZE).
pub fn format_tree_with_metrics(root: &dyn Operator) -> String {
    let mut out = String::new();
    walk(root, 0, &mut |op, depth| {
        let _ = writeln!(
            out,
            "{}{}, metrics=[{}]",
            "  ".repeat(depth),
            op.display(),
            op.metrics()
        );
    });
    out
}

/// Calls `f` on every operator of the tree, depth first, parents first.
pub fn walk(op: &dyn Operator, depth: usize, f: &mut dyn FnMut(&dyn Operator, usize)) {
    f(op, depth);
    for child in op.children() {
        walk(child, depth + 1, f);
    }
}
