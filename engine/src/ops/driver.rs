//! The one operator driver: every operator with one child (`DsAggOp`,
//! `RateOp`, `PipeAggOp`, `GroupedAggOp`, `MTAggOp`) is a [`UnaryOp`] over a
//! [`Kernel`]. The kernel says what the operator computes; the driver owns
//! what every operator does the same way:
//!
//! - the lifecycle (open → next… → close, re-openable after close; `next`
//!   before `open` or after `close` is an [`EngineError::Execution`] naming
//!   the operator, never a panic), see [`Lifecycle`];
//! - the metrics (`docs/architecture.md`, "The operator contract"): rows
//!   and batches in and out, compute time with the child's time excluded,
//!   peak bytes;
//! - the cancellation check, once per `next` and before each input batch;
//! - the lifetime of the running state and so of the memory reservations it
//!   holds: made at `open`, dropped (released) at the end of the stream, on
//!   `close`, and before a re-open.
//!
//! ```text
//!   UnaryOp::next ─┬─ kernel.emit(state)  ── ready batch? ──▶ return it
//!                  ├─ input done?         ──▶ drop state, return None
//!                  ├─ cancel.check()
//!                  └─ input.next() ──▶ kernel.consume(state, batch)
//!                                  └─ end ──▶ kernel.finish(state)
//! ```
//!
//! The kernel is the plan node (its parameters, displayed by EXPLAIN); its
//! `State` is the running stream (buffers, reservations), made anew at
//! every `open`, as DataFusion separates `FilterExec` from its stream.

use std::fmt;

use async_trait::async_trait;

use crate::batch::TimelineBatch;
use crate::context::{CancellationToken, TaskContext};
use crate::error::{EngineError, Result};
use crate::metrics::OperatorMetrics;
use crate::operator::Operator;
use crate::spec::BucketGrid;

/// What one operator with one child computes; [`UnaryOp`] drives it.
pub trait Kernel: Send + 'static {
    /// The running state of one execution (buffers, memory reservations).
    type State: Send;

    /// The operator's EXPLAIN name, e.g. `DsAggOp`.
    const NAME: &'static str;

    /// One line with the name and the parameters (EXPLAIN).
    fn display(&self) -> String;

    /// Makes the running state; `input` is already open, so what the
    /// kernel takes from its child (a resolved range, a bucket grid) is
    /// known.
    fn open(&mut self, ctx: &TaskContext, input: &dyn Operator) -> Result<Self::State>;

    /// Folds one input batch into the state.
    fn consume(&self, state: &mut Self::State, batch: &TimelineBatch) -> Result<()>;

    /// The input is exhausted: finish what is pending.
    fn finish(&self, state: &mut Self::State) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// The next output batch if one is ready. After [`finish`](Self::finish)
    /// (`input_done`), it may compute until a batch is ready; `None` then
    /// ends the stream.
    fn emit(&self, state: &mut Self::State, input_done: bool) -> Result<Option<TimelineBatch>>;

    /// The most bytes the state held so far (its reservations' peaks).
    fn peak_bytes(&self, state: &Self::State) -> usize {
        let _ = state;
        0
    }

    /// The query range `[start, end)` of the output, when known; by
    /// default the input's.
    fn output_range(&self, input: &dyn Operator) -> Option<(i64, i64)> {
        input.output_range()
    }

    /// The grid every output timestamp is a bucket start of, when there is
    /// one; by default the input's.
    fn output_grid(&self, input: &dyn Operator) -> Option<BucketGrid> {
        input.output_grid()
    }
}

/// Where an operator is in its life; see [`Lifecycle::check_next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    Open,
    Done,
    Closed,
}

/// The open / next / close state machine every operator shares.
#[derive(Debug, Clone, Copy)]
pub struct Lifecycle {
    phase: Phase,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle { phase: Phase::New }
    }
}

impl Lifecycle {
    /// Records a successful `open`.
    pub fn opened(&mut self) {
        self.phase = Phase::Open;
    }

    /// Records the end of the stream (`next` returned `None`).
    pub fn done(&mut self) {
        self.phase = Phase::Done;
    }

    /// Records `close`.
    pub fn closed(&mut self) {
        self.phase = Phase::Closed;
    }

    /// Whether `next` may run: `Ok(true)` when open, `Ok(false)` when the
    /// stream already ended (`next` returns `None` again), an execution
    /// error naming `operator` before `open` or after `close`.
    pub fn check_next(&self, operator: &str) -> Result<bool> {
        match self.phase {
            Phase::Open => Ok(true),
            Phase::Done => Ok(false),
            Phase::New => Err(EngineError::execution(
                operator,
                "next called before open: open the operator first",
            )),
            Phase::Closed => Err(EngineError::execution(
                operator,
                "next called after close: open the operator again to re-run it",
            )),
        }
    }

    /// Whether `open` may run: an execution error naming `operator` when it
    /// is already open (close it first).
    pub fn check_open(&self, operator: &str) -> Result<()> {
        match self.phase {
            Phase::Open | Phase::Done => Err(EngineError::execution(
                operator,
                "open called twice: close the operator before opening it again",
            )),
            Phase::New | Phase::Closed => Ok(()),
        }
    }
}

/// One execution's state: the kernel's, the cancellation token and whether
/// the input ended.
struct Run<S> {
    state: S,
    cancel: CancellationToken,
    input_done: bool,
}

/// An operator with one child, driven by the shared loop; see the module
/// docs. The operators are aliases of it (`PipeAggOp = UnaryOp<PipeAgg>`).
pub struct UnaryOp<K: Kernel> {
    input: Box<dyn Operator>,
    kernel: K,
    run: Option<Run<K::State>>,
    lifecycle: Lifecycle,
    metrics: OperatorMetrics,
}

impl<K: Kernel> UnaryOp<K> {
    /// `kernel` over `input`.
    pub fn with_kernel(input: Box<dyn Operator>, kernel: K) -> Self {
        UnaryOp {
            input,
            kernel,
            run: None,
            lifecycle: Lifecycle::default(),
            metrics: OperatorMetrics::default(),
        }
    }

    /// The kernel (the plan node's parameters).
    pub fn kernel(&self) -> &K {
        &self.kernel
    }

    /// The kernel, to set a parameter after construction.
    pub(crate) fn kernel_mut(&mut self) -> &mut K {
        &mut self.kernel
    }

    /// The child.
    pub fn input(&self) -> &dyn Operator {
        self.input.as_ref()
    }
}

impl<K: Kernel> fmt::Debug for UnaryOp<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(K::NAME)
            .field("display", &self.kernel.display())
            .field("input", &self.input.display())
            .field("lifecycle", &self.lifecycle)
            .finish()
    }
}

#[async_trait]
impl<K: Kernel> Operator for UnaryOp<K> {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn display(&self) -> String {
        self.kernel.display()
    }

    async fn open(&mut self, ctx: &TaskContext) -> Result<()> {
        self.lifecycle.check_open(K::NAME)?;
        self.run = None;
        self.input.open(ctx).await?;
        let started = self.metrics.start();
        let state = self.kernel.open(ctx, self.input.as_ref());
        self.metrics.stop(started);
        self.run = Some(Run {
            state: state?,
            cancel: ctx.cancel.clone(),
            input_done: false,
        });
        self.lifecycle.opened();
        Ok(())
    }

    async fn next(&mut self) -> Result<Option<TimelineBatch>> {
        if !self.lifecycle.check_next(K::NAME)? {
            return Ok(None);
        }
        let UnaryOp {
            input,
            kernel,
            run,
            lifecycle,
            metrics,
        } = self;
        let Some(r) = run.as_mut() else {
            return Err(EngineError::execution(K::NAME, "open did not finish"));
        };
        r.cancel.check()?;
        loop {
            let started = metrics.start();
            let ready = kernel.emit(&mut r.state, r.input_done);
            metrics.stop(started);
            if let Some(batch) = ready? {
                metrics.record_out(batch.num_rows());
                return Ok(Some(batch));
            }
            if r.input_done {
                metrics.record_bytes(kernel.peak_bytes(&r.state));
                // The end: release the state and its reservations now.
                *run = None;
                lifecycle.done();
                return Ok(None);
            }
            r.cancel.check()?;
            let batch = input.next().await?;
            let started = metrics.start();
            let result = match &batch {
                Some(b) => {
                    metrics.record_in(b.num_rows());
                    kernel.consume(&mut r.state, b)
                }
                None => {
                    r.input_done = true;
                    kernel.finish(&mut r.state)
                }
            };
            metrics.record_bytes(kernel.peak_bytes(&r.state));
            metrics.stop(started);
            result?;
        }
    }

    async fn close(&mut self) -> Result<()> {
        self.run = None;
        self.lifecycle.closed();
        self.input.close().await
    }

    fn metrics(&self) -> &OperatorMetrics {
        &self.metrics
    }

    fn children(&self) -> Vec<&dyn Operator> {
        vec![self.input.as_ref()]
    }

    fn output_range(&self) -> Option<(i64, i64)> {
        self.kernel.output_range(self.input.as_ref())
    }

    fn output_grid(&self) -> Option<BucketGrid> {
        self.kernel.output_grid(self.input.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::materialize::test_support::{batches, registry};
    use crate::ops::values::ValuesOp;

    /// Passes batches through, counting them into its state.
    struct Pass;

    impl Kernel for Pass {
        type State = Vec<TimelineBatch>;
        const NAME: &'static str = "PassOp";

        fn display(&self) -> String {
            "PassOp".into()
        }

        fn open(&mut self, _: &TaskContext, _: &dyn Operator) -> Result<Self::State> {
            Ok(Vec::new())
        }

        fn consume(&self, state: &mut Self::State, batch: &TimelineBatch) -> Result<()> {
            state.push(batch.clone());
            Ok(())
        }

        fn emit(&self, state: &mut Self::State, _: bool) -> Result<Option<TimelineBatch>> {
            Ok(state.pop())
        }
    }

    fn op() -> UnaryOp<Pass> {
        let reg = registry(&[("a", "1"), ("b", "2")]);
        let rows = [(0, 0, Some(1.0)), (0, 10, Some(2.0)), (1, 5, None)];
        UnaryOp::with_kernel(Box::new(ValuesOp::new(batches(&reg, &rows, 2))), Pass)
    }

    fn message(err: EngineError) -> String {
        match err {
            EngineError::Execution { operator, message } => format!("{operator}: {message}"),
            other => panic!("expected an execution error, got {other}"),
        }
    }

    #[test]
    fn next_before_open_and_after_close_are_errors() {
        futures::executor::block_on(async {
            let mut op = op();
            let err = op.next().await.unwrap_err();
            assert_eq!(
                message(err),
                "PassOp: next called before open: open the operator first"
            );
            let ctx = TaskContext::default();
            op.open(&ctx).await.unwrap();
            let err = op.open(&ctx).await.unwrap_err();
            assert_eq!(
                message(err),
                "PassOp: open called twice: close the operator before opening it again"
            );
            // 3 rows in batches of 2: two batches, then the end, twice.
            assert_eq!(op.next().await.unwrap().unwrap().num_rows(), 2);
            assert_eq!(op.next().await.unwrap().unwrap().num_rows(), 1);
            assert!(op.next().await.unwrap().is_none());
            assert!(op.next().await.unwrap().is_none());
            op.close().await.unwrap();
            let err = op.next().await.unwrap_err();
            assert_eq!(
                message(err),
                "PassOp: next called after close: open the operator again to re-run it"
            );
            op.close().await.unwrap();
        });
    }

    #[test]
    fn metrics_count_rows_and_batches_both_ways() {
        let mut op = op();
        let out =
            futures::executor::block_on(crate::operator::collect(&mut op, &TaskContext::default()))
                .unwrap();
        assert_eq!(out.len(), 2);
        let m = op.metrics();
        assert_eq!((m.rows_in, m.rows_out, m.batches_out), (3, 3, 2));
    }

    #[test]
    fn cancelled_before_the_first_batch() {
        let mut op = op();
        let ctx = TaskContext::default();
        ctx.cancel.cancel();
        futures::executor::block_on(async {
            op.open(&ctx).await.unwrap();
            assert!(matches!(op.next().await, Err(EngineError::Cancelled)));
            op.close().await.unwrap();
        });
    }
}
