//! The TSBS `cpu-only` queries (`benches/src/tsbs/queries.rs`) on one small
//! dataset, four ways: tsq directly, DataFusion SQL over a `MemTable` of the
//! wide rows (the oracle), the same SQL over `TsqTable`, and the tsq
//! statement through `tsq('…')`. All four must give the same rows.

use std::sync::Arc;

use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use tsq_benches::demo::{DemoConfig, DEFAULT_START};
use tsq_benches::tsbs::compare::{canonical, check_same};
use tsq_benches::tsbs::dataset::TsbsData;
use tsq_benches::tsbs::queries::queries;
use tsq_datafusion::{register_tsq, TsqFunction};
use tsq_engine::StorageAdapter;
use tsq_planner::{Session, SessionConfig};

#[tokio::test]
async fn tsbs_queries_agree_four_ways() {
    let config = DemoConfig {
        hosts: 3,
        hours: 2,
        seed: 7,
        start: DEFAULT_START,
    };
    let data = TsbsData::generate(config);
    let adapter: Arc<dyn StorageAdapter> = Arc::new(data.memory_adapter());
    let session = Arc::new(Session::new(Arc::clone(&adapter), SessionConfig::default()));

    let oracle = SessionContext::new();
    let batches = data.record_batches(8192).expect("wide rows");
    let table = MemTable::try_new(TsbsData::schema(), vec![batches]).expect("mem table");
    oracle
        .register_table("cpu", Arc::new(table))
        .expect("register");

    let ctx = SessionContext::new();
    register_tsq(&ctx, Arc::clone(&adapter))
        .await
        .expect("register tsq");
    ctx.register_udtf("tsq", Arc::new(TsqFunction::new(Arc::clone(&session))));

    let all = queries(&config);
    assert_eq!(all.len(), 15, "the TSBS cpu-only set");
    let mut answered = 0;
    for q in &all {
        let direct = session
            .sql(&q.tsq)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let direct = canonical(&direct).expect("canonical");
        let sql = |c: &SessionContext, s: String| {
            let c = c.clone();
            async move {
                let frame = c.sql(&s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
                canonical(&frame.collect().await.unwrap_or_else(|e| panic!("{s}: {e}")))
                    .expect("canonical")
            }
        };
        let expected = sql(&oracle, q.sql.clone()).await;
        let provider = sql(&ctx, q.sql.clone()).await;
        let function = sql(
            &ctx,
            format!("SELECT * FROM tsq('{}')", q.tsq.replace('\'', "''")),
        )
        .await;
        answered += usize::from(!expected.is_empty());
        check_same(&format!("{} (tsq vs oracle)", q.name), &direct, &expected).expect("same");
        check_same(&format!("{} (TsqTable)", q.name), &provider, &expected).expect("same");
        check_same(&format!("{} (tsq())", q.name), &function, &direct).expect("same");
    }
    // On two hours of three hosts only `high-cpu-1` (usage_user > 90 on the
    // first host) finds nothing.
    assert_eq!(answered, 14);
}
