//! Predicates as long as a user can type: `WHERE` chains of 2,500 and
//! 100,000 terms joined by `OR` / `AND` run through the whole session
//! (parser, optimizer rules, the scan's tag predicate, the adapter's index)
//! on a thread with the 2 MiB stack of a tokio worker, and give exact rows.

mod common;

use tsq_engine::Capabilities;

/// Runs `q` on a fresh 2 MiB-stack thread in a current-thread runtime and
/// returns its rows (or the error text).
fn run_small_stack(q: String, caps: Capabilities) -> Result<Vec<String>, String> {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let out = common::session(caps, None).execute(&q).await;
                out.map(|o| common::rows(&o)).map_err(|e| e.to_string())
            })
        })
        .unwrap()
        .join()
        .unwrap()
}

/// `host = 'x0' OR ... OR host = 'c' OR ...`: `n` terms, `c` among them.
fn or_chain(n: usize) -> String {
    let terms: Vec<String> = (0..n)
        .map(|i| match i {
            7 => "host = 'c'".to_string(),
            _ => format!("host = 'x{i}'"),
        })
        .collect();
    format!("SELECT usage FROM cpu WHERE {}", terms.join(" OR "))
}

/// `host != 'x0' AND ... AND host != 'b'`: `n` terms that exclude `b` only.
fn and_chain(n: usize) -> String {
    let terms: Vec<String> = (0..n)
        .map(|i| match i {
            3 => "host != 'b'".to_string(),
            _ => format!("host != 'x{i}'"),
        })
        .collect();
    format!("SELECT usage FROM cpu WHERE {}", terms.join(" AND "))
}

#[test]
fn or_chains_of_2500_and_100000_terms_select_one_host() {
    for n in [2_500, 100_000] {
        for caps in [Capabilities::ALL, Capabilities::NONE] {
            let rows = run_small_stack(or_chain(n), caps).unwrap();
            // only host c matches: its one point (10, 100), with its tags
            assert_eq!(rows, ["10|us|c|100"], "n={n} caps={caps:?}");
        }
    }
}

#[test]
fn and_chains_of_2500_and_100000_terms_exclude_one_host() {
    for n in [2_500, 100_000] {
        let rows = run_small_stack(and_chain(n), Capabilities::ALL).unwrap();
        // hosts a and c remain: a (0,1) (10,2) (20,3), c (10,100); raw rows
        // carry the tags and are ordered by (dc, host), then time
        let want = ["0|eu|a|1", "10|eu|a|2", "20|eu|a|3", "10|us|c|100"];
        assert_eq!(rows, want, "n={n}");
    }
}
