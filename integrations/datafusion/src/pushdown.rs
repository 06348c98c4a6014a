//! Which DataFusion filters a tsq scan can take over, and how exactly.
//!
//! DataFusion splits a `WHERE` into conjuncts and asks the table about each
//! one. A conjunct becomes part of the adapter's [`ScanRequest`] when it is
//!
//! - a time bound on `time` (`<`, `<=`, `>`, `>=`, `=`, `BETWEEN` against a
//!   timestamp literal): Exact when the adapter prunes time itself;
//! - a tag test (`=`, `!=`, `IN`, `NOT IN`, `LIKE`, `~`, `!~`, and `OR`s of
//!   them): Exact when the adapter applies tag predicates itself *and* the
//!   test cannot tell a missing tag from a present one. tsq follows InfluxQL
//!   (a missing tag reads as `''`, so `host != 'a'` matches a series without
//!   `host`), SQL does not (the column is NULL, the test is NULL): negations
//!   and tests that match `''` are pushed as Inexact, the scan returns a
//!   superset and DataFusion applies the filter again.
//!
//! A comparison on a field is never applied by the adapter (Inexact) but it
//! tells the scan that rows without that field are dropped anyway, so the
//! scan need not read the other fields to find which rows exist
//! ([`ScanFilters::required_fields`], `rows.rs`).
//!
//! [`ScanRequest`]: tsq_engine::ScanRequest

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::expr::{Between, BinaryExpr, InList, Like};
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use tsq_engine::{Capabilities, Pattern, TagPredicate, TimeRange};

use crate::schema::MeasurementSchema;

/// What the scan takes from the pushed filters.
#[derive(Debug, Clone)]
pub(crate) struct ScanFilters {
    /// The time range every pushed time bound allows.
    pub(crate) range: TimeRange,
    /// The conjunction of the pushed tag tests.
    pub(crate) predicate: TagPredicate,
    /// Fields a filter requires to be non-null (rows without them are
    /// dropped by DataFusion anyway).
    pub(crate) required_fields: Vec<String>,
}

impl Default for ScanFilters {
    fn default() -> Self {
        ScanFilters {
            range: TimeRange::ALL,
            predicate: TagPredicate::True,
            required_fields: Vec::new(),
        }
    }
}

impl ScanFilters {
    /// Folds every filter the scan understands into one request.
    pub(crate) fn from_filters(filters: &[Expr], schema: &MeasurementSchema) -> Self {
        let mut out = ScanFilters::default();
        for filter in filters {
            match classify(filter, schema) {
                Some(Pushed::Time(range)) => out.range = out.range.intersect(&range),
                Some(Pushed::Tag { predicate, .. }) => {
                    out.predicate =
                        std::mem::replace(&mut out.predicate, TagPredicate::True).and(predicate)
                }
                Some(Pushed::FieldNotNull(field)) if !out.required_fields.contains(&field) => {
                    out.required_fields.push(field)
                }
                Some(Pushed::FieldNotNull(_)) | None => {}
            }
        }
        out
    }
}

/// One filter as the scan understands it.
#[derive(Debug, Clone)]
pub(crate) enum Pushed {
    /// A time bound.
    Time(TimeRange),
    /// A tag test; `null_safe` when SQL and tsq agree on every series.
    Tag {
        /// The test in tsq's terms.
        predicate: TagPredicate,
        /// True when SQL's NULL semantics give the same rows.
        null_safe: bool,
    },
    /// A test that rejects rows where this field is null.
    FieldNotNull(String),
}

/// How DataFusion should treat `filter` on a table with `capabilities`.
pub(crate) fn support(
    filter: &Expr,
    schema: &MeasurementSchema,
    capabilities: Capabilities,
) -> TableProviderFilterPushDown {
    match classify(filter, schema) {
        Some(Pushed::Time(_)) if capabilities.time_pruning => TableProviderFilterPushDown::Exact,
        Some(Pushed::Tag {
            null_safe: true, ..
        }) if capabilities.tag_pushdown => TableProviderFilterPushDown::Exact,
        Some(_) => TableProviderFilterPushDown::Inexact,
        None => TableProviderFilterPushDown::Unsupported,
    }
}

/// `filter` in the scan's terms, or `None` when the scan cannot use it.
pub(crate) fn classify(filter: &Expr, schema: &MeasurementSchema) -> Option<Pushed> {
    match filter {
        Expr::BinaryExpr(b) => binary(b, schema),
        Expr::Between(b) => between(b, schema),
        Expr::InList(list) => in_list(list, schema),
        Expr::Like(like) => like_test(like, schema),
        Expr::IsNotNull(e) => Some(Pushed::FieldNotNull(field_of(e, schema)?)),
        _ => None,
    }
}

fn binary(b: &BinaryExpr, schema: &MeasurementSchema) -> Option<Pushed> {
    if b.op == Operator::Or {
        return or_of_tags(b, schema);
    }
    // Normalize `literal op column` to `column op' literal`.
    let (column, op, literal) = match (literal(&b.right), literal(&b.left)) {
        (Some(v), _) => (&*b.left, b.op, v),
        (None, Some(v)) => (&*b.right, b.op.swap()?, v),
        (None, None) => return None,
    };
    if is_time(column, schema) {
        let t = timestamp_ns(literal)?;
        return time_bound(op, t).map(Pushed::Time);
    }
    if let Some(tag) = tag_of(column, schema) {
        let value = string(literal)?;
        return match op {
            Operator::Eq => Some(tag_test(
                TagPredicate::Eq(tag, value.clone()),
                !value.is_empty(),
            )),
            Operator::NotEq => Some(tag_test(TagPredicate::NotEq(tag, value), false)),
            Operator::RegexMatch => {
                let p = Pattern::regex(&value).ok()?;
                let safe = !p.is_match("");
                Some(tag_test(TagPredicate::Regex(tag, p), safe))
            }
            Operator::RegexNotMatch => {
                let p = Pattern::regex(&value).ok()?;
                Some(tag_test(TagPredicate::NotRegex(tag, p), false))
            }
            _ => None,
        };
    }
    let field = field_of(column, schema)?;
    let rejects_null = matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
    ) && !literal.is_null();
    rejects_null.then_some(Pushed::FieldNotNull(field))
}

/// `a OR b OR …` where every operand is a tag test.
fn or_of_tags(b: &BinaryExpr, schema: &MeasurementSchema) -> Option<Pushed> {
    let mut operands = Vec::new();
    let mut all_safe = true;
    for side in [&*b.left, &*b.right] {
        match classify(side, schema)? {
            Pushed::Tag {
                predicate,
                null_safe,
            } => {
                all_safe &= null_safe;
                match predicate {
                    TagPredicate::Or(ps) => operands.extend(ps),
                    p => operands.push(p),
                }
            }
            _ => return None,
        }
    }
    Some(tag_test(TagPredicate::Or(operands), all_safe))
}

fn between(b: &Between, schema: &MeasurementSchema) -> Option<Pushed> {
    if b.negated || !is_time(&b.expr, schema) {
        let field = field_of(&b.expr, schema)?;
        return (!b.negated).then_some(Pushed::FieldNotNull(field));
    }
    let low = timestamp_ns(literal(&b.low)?)?;
    let high = timestamp_ns(literal(&b.high)?)?;
    Some(Pushed::Time(TimeRange::new(low, high.checked_add(1)?)))
}

fn in_list(list: &InList, schema: &MeasurementSchema) -> Option<Pushed> {
    let Some(tag) = tag_of(&list.expr, schema) else {
        let field = field_of(&list.expr, schema)?;
        return (!list.negated).then_some(Pushed::FieldNotNull(field));
    };
    let values = list
        .list
        .iter()
        .map(|e| string(literal(e)?))
        .collect::<Option<Vec<_>>>()?;
    if list.negated {
        return Some(tag_test(TagPredicate::NotIn(tag, values), false));
    }
    let safe = values.iter().all(|v| !v.is_empty());
    Some(tag_test(TagPredicate::In(tag, values), safe))
}

fn like_test(like: &Like, schema: &MeasurementSchema) -> Option<Pushed> {
    // tsq's LIKE escapes with `\`, as DataFusion does by default.
    if like.case_insensitive || !matches!(like.escape_char, None | Some('\\')) {
        return None;
    }
    let tag = tag_of(&like.expr, schema)?;
    let pattern = Pattern::like(&string(literal(&like.pattern)?)?).ok()?;
    if like.negated {
        let p = TagPredicate::Not(Box::new(TagPredicate::Like(tag, pattern)));
        return Some(tag_test(p, false));
    }
    let safe = !pattern.is_match("");
    Some(tag_test(TagPredicate::Like(tag, pattern), safe))
}

fn tag_test(predicate: TagPredicate, null_safe: bool) -> Pushed {
    Pushed::Tag {
        predicate,
        null_safe,
    }
}

/// The range a bound `time op t` allows.
fn time_bound(op: Operator, t: i64) -> Option<TimeRange> {
    let range = |start: Option<i64>, end: Option<i64>| TimeRange { start, end };
    Some(match op {
        Operator::Eq => range(Some(t), Some(t.checked_add(1)?)),
        Operator::Gt => range(Some(t.checked_add(1)?), None),
        Operator::GtEq => range(Some(t), None),
        Operator::Lt => range(None, Some(t)),
        Operator::LtEq => range(None, Some(t.checked_add(1)?)),
        _ => return None,
    })
}

/// The column an expression names, looking through casts that keep every
/// value (a dictionary to its strings, a nanosecond timestamp to another
/// zone).
fn column_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(c) if lossless(c.field.data_type()) => column_name(&c.expr),
        Expr::TryCast(c) if lossless(c.field.data_type()) => column_name(&c.expr),
        _ => None,
    }
}

fn lossless(to: &DataType) -> bool {
    matches!(
        to,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Dictionary(_, _)
            | DataType::Timestamp(TimeUnit::Nanosecond, _)
    )
}

fn is_time(e: &Expr, schema: &MeasurementSchema) -> bool {
    column_name(e).is_some_and(|c| c == schema.time_column())
}

fn tag_of(e: &Expr, schema: &MeasurementSchema) -> Option<String> {
    column_name(e)
        .filter(|c| schema.is_tag(c))
        .map(str::to_string)
}

fn field_of(e: &Expr, schema: &MeasurementSchema) -> Option<String> {
    // Any expression of a field (a cast, arithmetic) is NULL when the field is.
    match e {
        Expr::Column(c) if schema.is_field(&c.name) => Some(c.name.clone()),
        Expr::Cast(c) => field_of(&c.expr, schema),
        Expr::TryCast(c) => field_of(&c.expr, schema),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

fn string(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        ScalarValue::Dictionary(_, inner) => string(inner),
        _ => None,
    }
}

/// A timestamp literal in ns since the epoch (any unit, any zone: the
/// stored value is UTC).
fn timestamp_ns(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampNanosecond(Some(t), _) => Some(*t),
        ScalarValue::TimestampMicrosecond(Some(t), _) => t.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(t), _) => t.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(t), _) => t.checked_mul(1_000_000_000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    fn schema() -> MeasurementSchema {
        MeasurementSchema::new("cpu", vec!["host".into()], vec!["v".into()]).expect("valid schema")
    }

    fn ts(ns: i64) -> Expr {
        lit(ScalarValue::TimestampNanosecond(
            Some(ns),
            Some(tsq_planner::TIME_ZONE.into()),
        ))
    }

    #[test]
    fn time_bounds_become_half_open_ranges() {
        let s = schema();
        let f = ScanFilters::from_filters(&[col("time").gt(ts(10)), ts(50).gt_eq(col("time"))], &s);
        assert_eq!(f.range, TimeRange::new(11, 51));
        let b = ScanFilters::from_filters(&[col("time").between(ts(5), ts(9))], &s);
        assert_eq!(b.range, TimeRange::new(5, 10));
    }

    #[test]
    fn exact_only_where_sql_and_tsq_agree_on_missing_tags() {
        let s = schema();
        let all = Capabilities::ALL;
        let exact = TableProviderFilterPushDown::Exact;
        let inexact = TableProviderFilterPushDown::Inexact;
        assert_eq!(support(&col("host").eq(lit("a")), &s, all), exact);
        assert_eq!(support(&col("host").eq(lit("")), &s, all), inexact);
        assert_eq!(support(&col("host").not_eq(lit("a")), &s, all), inexact);
        assert_eq!(support(&col("host").like(lit("a%")), &s, all), exact);
        assert_eq!(support(&col("host").like(lit("%")), &s, all), inexact);
        assert_eq!(
            support(
                &col("host").in_list(vec![lit("a"), lit("b")], false),
                &s,
                all
            ),
            exact
        );
        assert_eq!(
            support(&col("host").eq(lit("a")), &s, Capabilities::NONE),
            inexact
        );
        assert_eq!(support(&col("time").lt(ts(3)), &s, all), exact);
        assert_eq!(support(&col("v").gt(lit(1.0)), &s, all), inexact);
        assert_eq!(
            support(&col("v").gt(col("v")), &s, all),
            TableProviderFilterPushDown::Unsupported
        );
        let or = col("host").eq(lit("a")).or(col("host").eq(lit("b")));
        assert_eq!(support(&or, &s, all), exact);
        let f = ScanFilters::from_filters(&[or, col("v").is_not_null()], &s);
        assert_eq!(f.predicate.to_string(), "(host = 'a' OR host = 'b')");
        assert_eq!(f.required_fields, vec!["v".to_string()]);
    }
}
