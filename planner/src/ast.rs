//! The parsed form of a statement (DESIGN §2), before any catalog lookup:
//! what the user wrote, with the position of every construct so that the
//! planner can name it in errors. The parser builds it; the logical planner
//! (`plan.rs`) checks it against the catalog.

use tsq_engine::{Aggregator, FillPolicy, Interval, RateOptions};

use crate::error::Pos;

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

/// A metadata statement: `SHOW MEASUREMENTS`, `SHOW TAG KEYS [FROM m]`,
/// `SHOW TAG VALUES [FROM m] WITH KEY = k [WHERE ...]`,
/// `SHOW FIELD KEYS [FROM m]`, `SHOW SERIES [FROM m] [WHERE ...] [LIMIT n]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Show {
    /// Which listing.
    pub what: ShowKind,
    /// `FROM <measurement>`; every measurement without it.
    pub from: Option<Name>,
    /// `WHERE` over tags (only `SHOW TAG VALUES` and `SHOW SERIES` take it).
    pub filter: Option<Filter>,
    /// `LIMIT n` (only `SHOW SERIES`).
    pub limit: Option<usize>,
    /// Where `SHOW` is.
    pub pos: Pos,
}

/// The listing a [`Show`] asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ShowKind {
    /// `SHOW MEASUREMENTS`.
    Measurements,
    /// `SHOW TAG KEYS`.
    TagKeys,
    /// `SHOW TAG VALUES WITH KEY = k`.
    TagValues(Name),
    /// `SHOW FIELD KEYS`.
    FieldKeys,
    /// `SHOW SERIES`.
    Series,
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

/// An arithmetic expression (`docs/query-language.md`, "Expressions").
#[derive(Debug, Clone, PartialEq)]
pub enum Arith {
    /// A number literal.
    Number {
        /// Its value.
        value: f64,
        /// As written (for the column name).
        text: String,
    },
    /// A value the pipelines compute: an aggregate, a raw field or rate.
    Term(Term),
    /// `-expr`.
    Neg(Box<Arith>),
    /// `left op right`.
    Binary {
        /// The operator.
        op: ArithOp,
        /// Left operand.
        left: Box<Arith>,
        /// Right operand.
        right: Box<Arith>,
    },
    /// `func(arg)`.
    Call {
        /// The function.
        func: MathFn,
        /// Its argument.
        arg: Box<Arith>,
    },
}

impl Arith {
    /// Calls `f` on every term, left to right.
    pub fn for_each_term<'a>(&'a self, f: &mut impl FnMut(&'a Term)) {
        match self {
            Arith::Number { .. } => {}
            Arith::Term(t) => f(t),
            Arith::Neg(e) | Arith::Call { arg: e, .. } => e.for_each_term(f),
            Arith::Binary { left, right, .. } => {
                left.for_each_term(f);
                right.for_each_term(f);
            }
        }
    }

    /// The expression's text, as its output column is named: terms as
    /// their columns are (`avg(usage)`), numbers as written, one space
    /// around each operator, parentheses only where precedence needs them.
    pub fn text(&self) -> String {
        match self {
            Arith::Number { text, .. } => text.clone(),
            Arith::Term(t) => t.text(),
            Arith::Neg(e) => match e.as_ref() {
                Arith::Binary { .. } => format!("-({})", e.text()),
                _ => format!("-{}", e.text()),
            },
            Arith::Call { func, arg } => format!("{}({})", func.name(), arg.text()),
            Arith::Binary { op, left, right } => {
                let side = |e: &Arith, right_side: bool| match e {
                    Arith::Binary { op: inner, .. }
                        if inner.precedence() < op.precedence()
                            || (right_side
                                && inner.precedence() == op.precedence()
                                && !op.associative()) =>
                    {
                        format!("({})", e.text())
                    }
                    _ => e.text(),
                };
                format!(
                    "{} {} {}",
                    side(left, false),
                    op.symbol(),
                    side(right, true)
                )
            }
        }
    }
}

/// A leaf of an [`Arith`] that a pipeline computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// A bare name: a raw field (a tag is a plan error).
    Field(Name),
    /// `rate(field, ...)` without an aggregator.
    Rate(ValueExpr),
    /// `agg(value)`.
    Aggregate {
        /// The aggregator.
        agg: Aggregator,
        /// Where the aggregator name is.
        pos: Pos,
        /// Its argument.
        expr: ValueExpr,
    },
}

impl Term {
    /// The term's column name (`usage`, `rate(bytes)`, `max(usage)`).
    pub fn text(&self) -> String {
        match self {
            Term::Field(n) => n.value.clone(),
            Term::Rate(e) => e.text(),
            Term::Aggregate { agg, expr, .. } => format!("{agg}({})", expr.text()),
        }
    }

    /// Where the term is written.
    pub fn pos(&self) -> Pos {
        match self {
            Term::Field(n) => n.pos,
            Term::Rate(e) => e.field().pos,
            Term::Aggregate { pos, .. } => *pos,
        }
    }
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/` (IEEE 754: `x / 0` is ±inf, `0 / 0` NaN).
    Div,
}

impl ArithOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
        }
    }

    /// Binding strength: `*` and `/` bind tighter than `+` and `-`.
    pub fn precedence(self) -> u8 {
        match self {
            ArithOp::Add | ArithOp::Sub => 1,
            ArithOp::Mul | ArithOp::Div => 2,
        }
    }

    /// True when `a op (b op' c)` equals `(a op b) op' c` for operators
    /// of its precedence (`+`, `*`).
    pub fn associative(self) -> bool {
        matches!(self, ArithOp::Add | ArithOp::Mul)
    }

    /// `a op b` on two numbers (IEEE 754).
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            ArithOp::Add => a + b,
            ArithOp::Sub => a - b,
            ArithOp::Mul => a * b,
            ArithOp::Div => a / b,
        }
    }
}

/// A function over values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathFn {
    /// `abs(x)`.
    Abs,
    /// `round(x)`: to the nearest integer, halves away from zero.
    Round,
    /// `floor(x)`.
    Floor,
    /// `ceil(x)`.
    Ceil,
    /// `ln(x)`: natural logarithm (`ln(0)` = -inf, negative → NaN).
    Ln,
    /// `log10(x)`.
    Log10,
    /// `sqrt(x)` (negative → NaN).
    Sqrt,
}

impl MathFn {
    /// Every function, for error messages.
    pub const NAMES: &'static str = "abs, round, floor, ceil, ln, log10, sqrt";

    /// The function named `name` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "abs" => MathFn::Abs,
            "round" => MathFn::Round,
            "floor" => MathFn::Floor,
            "ceil" => MathFn::Ceil,
            "ln" => MathFn::Ln,
            "log10" => MathFn::Log10,
            "sqrt" => MathFn::Sqrt,
            _ => return None,
        })
    }

    /// Its name in the language.
    pub fn name(self) -> &'static str {
        match self {
            MathFn::Abs => "abs",
            MathFn::Round => "round",
            MathFn::Floor => "floor",
            MathFn::Ceil => "ceil",
            MathFn::Ln => "ln",
            MathFn::Log10 => "log10",
            MathFn::Sqrt => "sqrt",
        }
    }

    /// The function on one number.
    pub fn apply(self, x: f64) -> f64 {
        match self {
            MathFn::Abs => x.abs(),
            MathFn::Round => x.round(),
            MathFn::Floor => x.floor(),
            MathFn::Ceil => x.ceil(),
            MathFn::Ln => x.ln(),
            MathFn::Log10 => x.log10(),
            MathFn::Sqrt => x.sqrt(),
        }
    }
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

/// `SAMPLE BY <interval> [<agg>] [FILL(<policy>)]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleBy {
    /// Bucket width.
    pub interval: Interval,
    /// Aggregator inside a bucket (default avg).
    pub agg: Aggregator,
    /// Fill policy (default none).
    pub fill: FillPolicy,
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
