//! The table function `tsq('…')`: a tsq query as a table of DataFusion SQL.
//!
//! ```sql
//! SELECT t.host, t.avg_v, h.rack
//! FROM tsq('SELECT avg(v) FROM cpu GROUP BY host SAMPLE BY 1m') AS t
//! JOIN hosts h ON h.host = t.host
//! ```
//!
//! DataFusion calls table functions while it plans, synchronously; the tsq
//! statement is planned then (on tsq's own runtime, waited for with a
//! blocking wait), so an error in it is a planning error of the DataFusion
//! query that names the statement.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{
    Session as DfSession, TableFunctionArgs, TableFunctionImpl, TableProvider,
};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use tsq_planner::Session;

use crate::error::{Error, Result};
use crate::query_exec::{plan_line, TsqExec};

/// `tsq('<tsq statement>')` over one tsq [`Session`]. Register it with
/// `ctx.register_udtf("tsq", Arc::new(TsqFunction::new(session)))`.
#[derive(Debug)]
pub struct TsqFunction {
    session: Arc<Session>,
}

impl TsqFunction {
    /// The function running its statements in `session`.
    pub fn new(session: Arc<Session>) -> Self {
        TsqFunction { session }
    }
}

impl TableFunctionImpl for TsqFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> DfResult<Arc<dyn TableProvider>> {
        let sql = statement(args.exprs())?;
        let table =
            futures::executor::block_on(TsqQueryTable::try_new(Arc::clone(&self.session), &sql))?;
        Ok(Arc::new(table))
    }
}

/// The one string literal argument of `tsq(...)`.
fn statement(args: &[Expr]) -> Result<String> {
    match args {
        [Expr::Literal(ScalarValue::Utf8(Some(s)), _)]
        | [Expr::Literal(ScalarValue::LargeUtf8(Some(s)), _)]
        | [Expr::Literal(ScalarValue::Utf8View(Some(s)), _)] => Ok(s.clone()),
        _ => Err(Error::Arguments(format!(
            "expected one string literal (a tsq statement), got {} argument(s): {}",
            args.len(),
            args.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The result of one tsq statement as a table (what `tsq('…')` returns).
#[derive(Debug)]
pub struct TsqQueryTable {
    session: Arc<Session>,
    sql: String,
    schema: SchemaRef,
    plan_line: String,
}

impl TsqQueryTable {
    /// Plans `sql` with tsq (no execution yet).
    pub async fn try_new(session: Arc<Session>, sql: &str) -> Result<Self> {
        let query = session.sql(sql).await?;
        Ok(TsqQueryTable {
            schema: query.schema(),
            plan_line: plan_line(query.logical_plan()),
            session,
            sql: sql.to_string(),
        })
    }
}

#[async_trait]
impl TableProvider for TsqQueryTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn DfSession,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(TsqExec::planned(
            Arc::clone(&self.session),
            &self.sql,
            Arc::clone(&self.schema),
            self.plan_line.clone(),
            projection.cloned(),
        )))
    }
}
