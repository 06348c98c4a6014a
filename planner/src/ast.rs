//! The parsed form of a statement (`docs/query-language.md`), before any catalog lookup:
//! what the user wrote, with the position of every construct so that the
//! planner can name it in errors. The parser builds it; the logical planner
//! (`plan.rs`) checks it against the catalog.

use tsq_engine::{Aggregator, FillPolicy, Interval, RateOptions};

use crate::error::Pos;

mod arith;
mod show;

pub use arith::{Arith, ArithOp, MathFn, Term};
pub use show::{Show, ShowKind};

/// A name with the position where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    /// The name as written (identifiers unquoted).
    pub value: String,
    /// Where it starts.
    pub pos: Pos,
}

/// One statement of a script.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `EXPLAIN` / `EXPLAIN ANALYZE` prefix, if any (never set for `SHOW`).
    pub explain: Option<ExplainMode>,
    /// A query or a metadata statement.
    pub body: StatementBody,
    /// The statement's text (without the trailing `;`).
    pub text: String,
}

impl Statement {
    /// The query of a `SELECT` statement; `None` for `SHOW`.
    pub fn query(&self) -> Option<&Query> {
        match &self.body {
            StatementBody::Select(q) => Some(q),
            StatementBody::Show(_) => None,
        }
    }

    /// The query of a `SELECT` statement, by value; `None` for `SHOW`.
    pub fn into_query(self) -> Option<Query> {
        match self.body {
            StatementBody::Select(q) => Some(q),
            StatementBody::Show(_) => None,
        }
    }
}

/// What a statement does.
#[derive(Debug, Clone, PartialEq)]
pub enum StatementBody {
    /// `SELECT ...`.
    Select(Query),
    /// `SHOW ...`, answered from the index (see [`crate::show`]).
    Show(Show),
}

/// What `EXPLAIN` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainMode {
    /// The plan, without running it.
    Plan,
    /// Run the query and print per-operator metrics.
    Analyze,
}

/// `SELECT ... FROM ... [WHERE] [GROUP BY] [SAMPLE BY] [ORDER BY] [LIMIT]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// The select list.
    pub projections: Vec<Projection>,
    /// `FROM <measurement>`.
    pub measurement: Name,
    /// `WHERE`, if any.
    pub filter: Option<Filter>,
    /// `GROUP BY`, if any.
    pub group_by: Option<GroupByClause>,
    /// `SAMPLE BY`, if any.
    pub sample_by: Option<SampleBy>,
    /// `FILL(...)` written without `SAMPLE BY` (a plan error, kept to report it).
    pub orphan_fill: Option<Pos>,
    /// `ORDER BY` items.
    pub order_by: Vec<OrderItem>,
    /// `LIMIT n`.
    pub limit: Option<usize>,
}

/// One item of the select list.
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    /// A bare name: a tag column or, without aggregates, a raw field.
    Column(Name),
    /// `<agg>(<expr>) [AS alias]`.
    Aggregate {
        /// The aggregator.
        agg: Aggregator,
        /// Where the aggregator name is.
        pos: Pos,
        /// Its argument.
        expr: ValueExpr,
        /// `AS alias`.
        alias: Option<String>,
    },
    /// `<agg>(*)`: one aggregate per field of the measurement, expanded by
    /// the planner against the catalog (`docs/semantics.md` §11).
    AggregateAll {
        /// The aggregator.
        agg: Aggregator,
        /// Where the aggregator name is.
        pos: Pos,
    },
    /// `rate(...) [AS alias]` without an aggregator: raw rates per timeline.
    Rate {
        /// The rate expression.
        expr: ValueExpr,
        /// `AS alias`.
        alias: Option<String>,
    },
    /// Arithmetic over aggregates, fields and numbers, or a function of
    /// them: `avg(a) + avg(b) AS busy`, `max(bytes) / 1024`, `abs(usage)`.
    Arith {
        /// The expression (never a bare term: those are the variants above).
        expr: Arith,
        /// `AS alias`.
        alias: Option<String>,
        /// Where the expression starts.
        pos: Pos,
    },
}

/// A field, or the rate of a field.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueExpr {
    /// A field.
    Field(Name),
    /// `rate(field, ...)`.
    Rate {
        /// The field.
        field: Name,
        /// Counter options.
        options: RateOptions,
        /// Where `rate` is.
        pos: Pos,
    },
}

impl ValueExpr {
    /// The field read.
    pub fn field(&self) -> &Name {
        match self {
            ValueExpr::Field(f) | ValueExpr::Rate { field: f, .. } => f,
        }
    }

    /// The rate options, if this is a rate.
    pub fn rate(&self) -> Option<RateOptions> {
        match self {
            ValueExpr::Field(_) => None,
            ValueExpr::Rate { options, .. } => Some(*options),
        }
    }

    /// The expression's text, as output column names use it.
    pub fn text(&self) -> String {
        match self {
            ValueExpr::Field(f) => f.value.clone(),
            ValueExpr::Rate { field, .. } => format!("rate({})", field.value),
        }
    }
}

/// A `WHERE` expression over tags, time and field values.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every operand holds (at least two, none of them an `And`: chains
    /// such as `a AND b AND c` are one flat node, so a query's length never
    /// becomes the depth of a tree).
    And(Vec<Filter>),
    /// Some operand holds (at least two, none of them an `Or`).
    Or(Vec<Filter>),
    /// Negation (position of `NOT`).
    Not(Box<Filter>, Pos),
    /// A test on one tag.
    Tag(TagTest),
    /// A bound on time.
    Time(TimeBound),
    /// A comparison of a name with a number (a field's value; the planner
    /// rejects tags), or of a name with a string under `<`, `<=`, `>`, `>=`
    /// (kept so that the planner can say whether a field or a tag was meant).
    Value(ValueTest),
    /// A comparison where a side is arithmetic over fields
    /// (`usage_user + usage_system > 90`, `usage_user > 2 * usage_system`).
    Arith(ArithTest),
}

impl Filter {
    /// The operands of the top-level `AND`s, left to right (the filter
    /// itself when it is not an `AND`).
    pub fn into_conjuncts(self) -> Vec<Filter> {
        match self {
            Filter::And(items) => items,
            other => vec![other],
        }
    }

    /// The `AND` of `items`, flattened (an `And` operand gives its own
    /// operands); `None` without items, the item itself when there is one.
    pub fn and(items: Vec<Filter>) -> Option<Filter> {
        Self::join(items, true)
    }

    /// The `OR` of `items`, flattened like [`Filter::and`].
    pub fn or(items: Vec<Filter>) -> Option<Filter> {
        Self::join(items, false)
    }

    fn join(items: Vec<Filter>, and: bool) -> Option<Filter> {
        let mut flat = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Filter::And(inner) if and => flat.extend(inner),
                Filter::Or(inner) if !and => flat.extend(inner),
                other => flat.push(other),
            }
        }
        match flat.len() {
            0 => None,
            1 => flat.pop(),
            _ if and => Some(Filter::And(flat)),
            _ => Some(Filter::Or(flat)),
        }
    }
}

/// `name <op> operand`, normalized so that the name is on the left
/// (`90 < usage` is `usage > 90`).
#[derive(Debug, Clone, PartialEq)]
pub struct ValueTest {
    /// The name compared (a field, if the comparison is valid).
    pub field: Name,
    /// The comparison, with the name on the left.
    pub op: ValueOp,
    /// What the name is compared with.
    pub operand: Operand,
    /// Where the operand is.
    pub operand_pos: Pos,
}

/// `left <op> right` with arithmetic on a side: a value comparison whose
/// values are computed per row (`docs/query-language.md`, "Expressions").
#[derive(Debug, Clone, PartialEq)]
pub struct ArithTest {
    /// Left side.
    pub left: Arith,
    /// The comparison.
    pub op: ValueOp,
    /// Right side.
    pub right: Arith,
    /// Where the comparison starts.
    pub pos: Pos,
}

/// The right-hand side of a [`ValueTest`].
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A finite number (integer, decimal or scientific, optionally negative).
    Number(f64),
    /// A string in single quotes (an error for a field; for a tag, an
    /// operator tags do not have).
    String(String),
}

/// A comparison operator of a value test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueOp {
    /// `=`.
    Eq,
    /// `!=` or `<>`.
    NotEq,
    /// `<`.
    Lt,
    /// `<=`.
    LtEq,
    /// `>`.
    Gt,
    /// `>=`.
    GtEq,
}

impl ValueOp {
    /// The operator with its operands swapped: `a < b` is `b > a`.
    pub fn mirrored(self) -> Self {
        match self {
            ValueOp::Lt => ValueOp::Gt,
            ValueOp::LtEq => ValueOp::GtEq,
            ValueOp::Gt => ValueOp::Lt,
            ValueOp::GtEq => ValueOp::LtEq,
            same => same,
        }
    }

    /// `x <op> v` under IEEE 754: every comparison with NaN is false
    /// except `!=`, which is true.
    pub fn holds(self, x: f64, v: f64) -> bool {
        match self {
            ValueOp::Eq => x == v,
            ValueOp::NotEq => x != v,
            ValueOp::Lt => x < v,
            ValueOp::LtEq => x <= v,
            ValueOp::Gt => x > v,
            ValueOp::GtEq => x >= v,
        }
    }

    /// The operator as written in the language (`<>` shows as `!=`).
    pub fn symbol(self) -> &'static str {
        match self {
            ValueOp::Eq => "=",
            ValueOp::NotEq => "!=",
            ValueOp::Lt => "<",
            ValueOp::LtEq => "<=",
            ValueOp::Gt => ">",
            ValueOp::GtEq => ">=",
        }
    }
}

impl std::fmt::Display for ValueOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.symbol())
    }
}

/// A test on one tag.
#[derive(Debug, Clone, PartialEq)]
pub struct TagTest {
    /// The tag key.
    pub key: Name,
    /// The test.
    pub op: TagOp,
}

/// A tag comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum TagOp {
    /// `= 'v'`.
    Eq(String),
    /// `!= 'v'` / `<> 'v'`.
    NotEq(String),
    /// `IN (...)`.
    In(Vec<String>),
    /// `NOT IN (...)`.
    NotIn(Vec<String>),
    /// `LIKE 'p'` (negated for `NOT LIKE`).
    Like(String, bool),
    /// `~ 're'` (negated for `!~`).
    Regex(String, bool),
}

/// A comparison of `time` with an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBound {
    /// The comparison, with `time` on the left.
    pub op: TimeOp,
    /// The instant in ns since the epoch.
    pub value: i64,
    /// Where `time` is.
    pub pos: Pos,
}

/// `time <op> instant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOp {
    /// `>=`.
    GtEq,
    /// `>`.
    Gt,
    /// `<`.
    Lt,
    /// `<=`.
    LtEq,
    /// `=`.
    Eq,
}

/// `GROUP BY`.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupByClause {
    /// `GROUP BY tagk, ...`.
    Tags(Vec<Name>),
    /// `GROUP BY *`.
    All(Pos),
}

/// `SAMPLE BY <interval> [<agg>] [FILL(<policy> [, <max gap>])]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleBy {
    /// Bucket width.
    pub interval: Interval,
    /// Aggregator inside a bucket (default avg).
    pub agg: Aggregator,
    /// Fill policy (default none).
    pub fill: FillPolicy,
    /// `FILL(previous, 5m)` / `FILL(linear, 5m)`: the longest gap bridged, ns.
    pub max_gap: Option<i64>,
    /// Where `SAMPLE` is.
    pub pos: Pos,
    /// Where `FILL` is, if written.
    pub fill_pos: Option<Pos>,
}

/// One `ORDER BY` item.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    /// The output column (`time`, a tag, an aggregate's name).
    pub column: Name,
    /// `DESC`.
    pub descending: bool,
}
