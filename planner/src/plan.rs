//! The logical plan: a checked query, resolved against the catalog, that the
//! optimizer rules rewrite step by step (pushdowns, one pipeline per value
//! column, the aggregation operator of each), recording why for EXPLAIN.
//!
//! ```text
//!   Query ──build.rs (catalog checks, value comparisons taken out of WHERE)
//!         ──▶ LogicalPlan { filter: Some(..), value_filters, pipelines: [] }
//!         ──push_down_time_range──▶ range set
//!         ──push_down_tag_predicate──▶ predicate set, filter: None
//!         ──split_fields──▶ one PlannedPipeline per value column
//!         ──choose_aggregation──▶ strategy per pipeline
//! ```

use arrow::datatypes::DataType;
use tsq_engine::spec::{AggStrategy, PipelineSpec};
use tsq_engine::value::output_value_type;
use tsq_engine::ReadPath;
use tsq_engine::{
    Aggregator, Capabilities, Downsample, GroupBy, RateOptions, TagPredicate, TimeRange, ValueType,
};

use crate::ast::{Filter, OrderItem, ValueOp};
use crate::error::Pos;
use crate::expr::ScalarExpr;

/// What the planner knows about the measurement and the adapter.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Adapter name (`memory`, `tsm`).
    pub adapter: String,
    /// What the adapter can do.
    pub capabilities: Capabilities,
    /// False when the measurement does not exist.
    pub measurement_exists: bool,
    /// Field names of the measurement, sorted.
    pub fields: Vec<String>,
    /// Tag keys of the measurement, sorted.
    pub tag_keys: Vec<String>,
    /// The stored type of each field (`StorageAdapter::field_types`); a
    /// field not listed reads as a float.
    pub field_types: Vec<(String, ValueType)>,
}

impl Catalog {
    /// The stored type of field `name` (`Float` when unknown).
    pub fn field_type(&self, name: &str) -> ValueType {
        self.field_types
            .iter()
            .find(|(f, _)| f == name)
            .map_or(ValueType::Float, |(_, t)| *t)
    }

    /// True when `name` is a tag key of the measurement.
    pub fn is_tag(&self, name: &str) -> bool {
        self.tag_keys.iter().any(|t| t == name)
    }

    /// True when `name` is a field of the measurement.
    pub fn is_field(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f == name)
    }
}

/// One result value column and how it is computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Column name: the alias, else the text (`sum(usage)`, `p99(rate(bytes))`).
    pub name: String,
    /// The field read.
    pub field: String,
    /// `rate(...)` options, if any.
    pub rate: Option<RateOptions>,
    /// The cross-timeline aggregator; `None` for raw selects.
    pub aggregate: Option<Aggregator>,
    /// Where the column was written.
    pub pos: Pos,
    /// True for a field read only for a value filter: it is joined with the
    /// other columns, then dropped from the result. Hidden outputs come
    /// after every visible one.
    pub hidden: bool,
}

/// One value column of the result, in select-list order.
#[derive(Debug, Clone, PartialEq)]
pub enum ResultColumn {
    /// The column of output `i`, as the pipelines computed it.
    Output(usize),
    /// An expression over outputs (`avg(a) + avg(b) AS busy`), evaluated
    /// over each result batch by `crate::result::project`.
    Computed {
        /// Column name: the alias, else the expression's text.
        name: String,
        /// The expression over output indices.
        expr: ScalarExpr,
        /// Where the expression starts.
        pos: Pos,
    },
}

/// A value comparison of `WHERE` (`usage > 90`), applied to the joined rows
/// before `ORDER BY` and `LIMIT`: a row is kept when its value of the
/// compared field satisfies it. Null never does; NaN follows IEEE 754 (only
/// `!=` holds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueFilter {
    /// Index of the output holding the compared field's values.
    pub output: usize,
    /// The comparison, with the field on the left.
    pub op: ValueOp,
    /// The number compared with.
    pub value: f64,
}

/// A value comparison of `WHERE` with arithmetic on a side
/// (`usage_user + usage_system > 90`): both sides are evaluated over each
/// joined batch (`crate::result::project`) and the rows where the
/// comparison fails are dropped, before `ORDER BY` and `LIMIT` take effect.
/// Null never passes; NaN follows IEEE 754 (only `!=` holds).
#[derive(Debug, Clone, PartialEq)]
pub struct ExprFilter {
    /// Left side over output indices.
    pub left: ScalarExpr,
    /// The comparison.
    pub op: ValueOp,
    /// Right side.
    pub right: ScalarExpr,
    /// The comparison as written (`usage_user + usage_system > 90`).
    pub text: String,
}

/// A pipeline the physical planner will build.
#[derive(Debug, Clone)]
pub struct PlannedPipeline {
    /// Index of the output column it computes.
    pub output: usize,
    /// The engine specification.
    pub spec: PipelineSpec,
    /// The aggregation operator (set by `choose_aggregation`).
    pub strategy: AggStrategy,
    /// How the leaf reads (set by `choose_read_path`).
    pub read: ReadPath,
}

/// Why a rule decided what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The rule's name.
    pub rule: &'static str,
    /// One sentence.
    pub note: String,
}

/// A query resolved against the catalog.
#[derive(Debug, Clone)]
pub struct LogicalPlan {
    /// `FROM`.
    pub measurement: String,
    /// The `WHERE` expression not yet pushed into the scan.
    pub filter: Option<Filter>,
    /// The time range of the scan.
    pub range: TimeRange,
    /// The tag predicate of the scan.
    pub predicate: TagPredicate,
    /// Grouping of the aggregates (`GroupBy::All` for raw selects).
    pub group_by: GroupBy,
    /// The tag columns of the result, in order.
    pub tag_columns: Vec<String>,
    /// `SAMPLE BY`.
    pub downsample: Option<Downsample>,
    /// Where `SAMPLE BY` is written, if it is.
    pub sample_by_pos: Option<Pos>,
    /// The value columns of the result, then the hidden ones read only for
    /// `value_filters`.
    pub outputs: Vec<Output>,
    /// The value columns of the result in select-list order: outputs as
    /// computed, or expressions over them. Outputs that only feed
    /// expressions (or value filters) are not among them.
    pub columns: Vec<ResultColumn>,
    /// The value comparisons of `WHERE` (all joined by `AND`).
    pub value_filters: Vec<ValueFilter>,
    /// The value comparisons with arithmetic (joined by `AND` with the
    /// others), applied after the join.
    pub expr_filters: Vec<ExprFilter>,
    /// True for selects without aggregates (raw points per timeline).
    pub raw: bool,
    /// The pipelines (set by `split_fields`).
    pub pipelines: Vec<PlannedPipeline>,
    /// Every pipeline is a last point of one selection, so one
    /// `LastPointsOp` computes all the value columns (set by
    /// `choose_read_path`; `docs/architecture.md`, "Last point as one
    /// operator").
    pub last_points_as_one: bool,
    /// `ORDER BY`.
    pub order_by: Vec<OrderItem>,
    /// `LIMIT`.
    pub limit: Option<usize>,
    /// Messages for the user that are not errors (missing measurement...).
    pub notices: Vec<String>,
    /// What each rule decided, in order.
    pub decisions: Vec<Decision>,
    /// The stored type of each field of the measurement (the catalog's).
    pub field_types: Vec<(String, ValueType)>,
}

impl LogicalPlan {
    /// Records a rule's decision.
    pub fn decide(&mut self, rule: &'static str, note: impl Into<String>) {
        self.decisions.push(Decision {
            rule,
            note: note.into(),
        });
    }

    /// Names of all result columns: `time`, tags, values (hidden outputs
    /// and outputs that only feed expressions are not result columns).
    pub fn column_names(&self) -> Vec<String> {
        let mut names = vec!["time".to_string()];
        names.extend(self.tag_columns.iter().cloned());
        names.extend(self.value_column_names());
        names
    }

    /// The Arrow type of output `i`'s values (`docs/semantics.md` §12,
    /// [`output_value_type`]): `Int64` / `UInt64` for the raw points of an
    /// integer field, `Int64` for its counts, `Float64` for everything
    /// else.
    pub fn output_data_type(&self, i: usize) -> DataType {
        let Some(output) = self.outputs.get(i) else {
            return DataType::Float64;
        };
        let field = self
            .field_types
            .iter()
            .find(|(f, _)| *f == output.field)
            .map_or(ValueType::Float, |(_, t)| *t);
        let aggregate = output.aggregate.filter(|_| !self.raw);
        let downsample = self.downsample.as_ref();
        output_value_type(field, output.rate.is_some(), downsample, aggregate)
            .timeline_data_type()
            .unwrap_or(DataType::Float64)
    }

    /// The result's value columns, in order, with their Arrow types
    /// (expressions are `Float64`).
    pub fn value_column_fields(&self) -> Vec<(String, DataType)> {
        self.columns
            .iter()
            .map(|c| match c {
                ResultColumn::Output(i) => {
                    (self.outputs[*i].name.clone(), self.output_data_type(*i))
                }
                ResultColumn::Computed { name, .. } => (name.clone(), DataType::Float64),
            })
            .collect()
    }

    /// Names of the result's value columns, in order.
    pub fn value_column_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| match c {
                ResultColumn::Output(i) => self.outputs[*i].name.clone(),
                ResultColumn::Computed { name, .. } => name.clone(),
            })
            .collect()
    }

    /// The outputs the result join carries as columns (every output but
    /// those read only for a value filter).
    pub fn visible_outputs(&self) -> impl Iterator<Item = &Output> {
        self.outputs.iter().filter(|o| !o.hidden)
    }

    /// True when the result's value columns are not the join's columns as
    /// they are (an expression, or an output that only feeds one).
    pub fn needs_projection(&self) -> bool {
        if !self.expr_filters.is_empty() {
            return true;
        }
        let joined = self.visible_outputs().count();
        self.columns.len() != joined
            || self
                .columns
                .iter()
                .enumerate()
                .any(|(k, c)| *c != ResultColumn::Output(k))
    }

    /// The value filters as `WHERE` would write them
    /// (`usage_user > 90 AND usage_system < 5`); `None` without any.
    pub fn value_filter_text(&self) -> Option<String> {
        let parts: Vec<String> = self
            .value_filters
            .iter()
            .map(|f| format!("{} {} {}", self.outputs[f.output].field, f.op, f.value))
            .chain(self.expr_filters.iter().map(|f| f.text.clone()))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" AND "))
    }
}
