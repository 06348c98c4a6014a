//! The TSBS `cpu-only` query set, each query written twice: in tsq's
//! language and as the equivalent SQL over the wide `cpu` table (for
//! DataFusion). [`queries`] fixes the parameters TSBS draws at random
//! (hosts, windows) so every run asks the same questions: the first hosts,
//! and windows starting at the data's first timestamp, clamped to the data;
//! [`super::random`] draws them as TSBS does, from a seed.
//!
//! TSBS's InfluxQL uses `GROUP BY time(...)` whose default fill is `null`:
//! tsq's `FILL(null)` is the faithful translation. On the gap-free demo data
//! every bucket holds points, so the SQL (which emits no row for an empty
//! bucket) returns the same rows.

use crate::demo::{DemoConfig, FIELDS, INTERVAL_SECONDS, TAG_KEYS};

const SECOND: i64 = 1_000_000_000;
const HOUR: i64 = 3600 * SECOND;
const BUCKET_1M: &str = "date_bin(INTERVAL '1 minute', time, TIMESTAMP '1970-01-01T00:00:00')";
const BUCKET_1H: &str = "date_bin(INTERVAL '1 hour', time, TIMESTAMP '1970-01-01T00:00:00')";

/// One benchmark query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsbsQuery {
    /// The TSBS name (`single-groupby-1-1-1`, …).
    pub name: &'static str,
    /// What it asks, in words.
    pub about: String,
    /// The query in tsq's language.
    pub tsq: String,
    /// The same question as SQL over the table `cpu`.
    pub sql: String,
    /// Points the query has to read (hosts × fields × timestamps in its window).
    pub points: usize,
    /// The time range it reads, `[from, to)` in ns (`lastpoint`: the data's
    /// span; `groupby-orderby-limit`: from the data's start).
    pub window: (i64, i64),
    /// The hostnames it names, in the order drawn (empty: every host).
    pub hosts: Vec<String>,
}

/// Where the fixed queries look in a dataset.
struct Frame {
    start: i64,
    end: i64,
    hosts: usize,
}

impl Frame {
    fn window(&self, hours: i64) -> (i64, i64) {
        (self.start, (self.start + hours * HOUR).min(self.end))
    }

    fn host_list(&self, n: usize) -> Vec<String> {
        (0..n.min(self.hosts))
            .map(|h| format!("host_{h}"))
            .collect()
    }
}

/// Timestamps of one host in `[from, to)` (10 s apart from a multiple of
/// 10 s, as the demo data is).
fn steps(from: i64, to: i64) -> usize {
    let step = INTERVAL_SECONDS * SECOND;
    let first_at_or_after = |t: i64| (t.saturating_add(step - 1)).div_euclid(step);
    (first_at_or_after(to) - first_at_or_after(from)).max(0) as usize
}

/// An instant as tsq's RFC 3339 literal and as a SQL timestamp literal.
fn instant(ns: i64) -> (String, String) {
    let secs = ns.div_euclid(SECOND);
    let nanos = ns.rem_euclid(SECOND) as u32;
    let t = chrono::DateTime::from_timestamp(secs, nanos).unwrap_or_default();
    let text = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    (format!("'{text}Z'"), format!("TIMESTAMP '{text}'"))
}

fn time_filter(from: i64, to: i64) -> (String, String) {
    let ((a, sa), (b, sb)) = (instant(from), instant(to));
    (
        format!("time >= {a} AND time < {b}"),
        format!("time >= {sa} AND time < {sb}"),
    )
}

fn aggs(agg: &str, fields: &[&str]) -> String {
    let items: Vec<String> = fields.iter().map(|f| format!("{agg}({f})")).collect();
    items.join(", ")
}

/// `'host_1', 'host_7'`: hostnames as a quoted list.
fn quoted(hosts: &[String]) -> String {
    let items: Vec<String> = hosts.iter().map(|h| format!("'{h}'")).collect();
    items.join(", ")
}

/// The TSBS queries over the data of `config` (at least one host and one
/// hour), with fixed parameters: the first hosts, windows from the first
/// timestamp, clamped to the data.
pub fn queries(config: &DemoConfig) -> Vec<TsbsQuery> {
    let frame = Frame {
        start: config.start,
        end: config.end(),
        hosts: config.hosts,
    };
    let all = frame.hosts;
    vec![
        single_groupby(
            "single-groupby-1-1-1",
            1,
            &frame.host_list(1),
            frame.window(1),
        ),
        single_groupby(
            "single-groupby-1-1-12",
            1,
            &frame.host_list(1),
            frame.window(12),
        ),
        single_groupby(
            "single-groupby-1-8-1",
            1,
            &frame.host_list(8),
            frame.window(1),
        ),
        single_groupby(
            "single-groupby-5-1-1",
            5,
            &frame.host_list(1),
            frame.window(1),
        ),
        single_groupby(
            "single-groupby-5-1-12",
            5,
            &frame.host_list(1),
            frame.window(12),
        ),
        single_groupby(
            "single-groupby-5-8-1",
            5,
            &frame.host_list(8),
            frame.window(1),
        ),
        cpu_max_all("cpu-max-all-1", &frame.host_list(1), frame.window(8)),
        cpu_max_all("cpu-max-all-8", &frame.host_list(8), frame.window(8)),
        double_groupby("double-groupby-1", 1, frame.window(12), all),
        double_groupby("double-groupby-5", 5, frame.window(12), all),
        double_groupby("double-groupby-all", FIELDS.len(), frame.window(12), all),
        high_cpu("high-cpu-all", None, frame.window(12), all),
        high_cpu("high-cpu-1", Some("host_0"), frame.window(12), all),
        lastpoint((frame.start, frame.end), all),
        // the last five minutes before the middle of the data
        groupby_orderby_limit(
            frame.start + (frame.end - frame.start) / 2 / (60 * SECOND) * (60 * SECOND),
            (frame.start, frame.end),
            all,
        ),
    ]
}

/// TSBS `single-groupby-M-H-T`: max of the first `metrics` fields over
/// `hosts`, per minute, over `window` (T hours).
pub(crate) fn single_groupby(
    name: &'static str,
    metrics: usize,
    hosts: &[String],
    (from, to): (i64, i64),
) -> TsbsQuery {
    let fields = &FIELDS[..metrics];
    let (tf, sf) = time_filter(from, to);
    let hosts_sql = quoted(hosts);
    TsbsQuery {
        name,
        about: format!(
            "max of {metrics} metric(s) over {} host(s), per minute, {} h",
            hosts.len(),
            (to - from) / HOUR
        ),
        tsq: format!(
            "SELECT {} FROM cpu WHERE hostname IN ({hosts_sql}) AND {tf} SAMPLE BY 1m max FILL(null)",
            aggs("max", fields)
        ),
        sql: format!(
            "SELECT {BUCKET_1M} AS time, {} FROM cpu WHERE hostname IN ({hosts_sql}) AND {sf} GROUP BY 1",
            aggs("max", fields)
        ),
        points: hosts.len() * metrics * steps(from, to),
        window: (from, to),
        hosts: hosts.to_vec(),
    }
}

/// TSBS `double-groupby-M`: mean of the first `metrics` fields per host per
/// hour over `window` (12 hours); `hosts` is how many the data has.
pub(crate) fn double_groupby(
    name: &'static str,
    metrics: usize,
    (from, to): (i64, i64),
    hosts: usize,
) -> TsbsQuery {
    let fields = &FIELDS[..metrics];
    let (tf, sf) = time_filter(from, to);
    TsbsQuery {
        name,
        about: format!(
            "mean of {metrics} metric(s) per host per hour, {} h",
            (to - from) / HOUR
        ),
        tsq: format!(
            "SELECT {} FROM cpu WHERE {tf} GROUP BY hostname SAMPLE BY 1h avg FILL(null)",
            aggs("avg", fields)
        ),
        sql: format!(
            "SELECT {BUCKET_1H} AS time, hostname, {} FROM cpu WHERE {sf} GROUP BY 1, 2",
            aggs("avg", fields)
        ),
        points: hosts * metrics * steps(from, to),
        window: (from, to),
        hosts: Vec::new(),
    }
}

/// TSBS `cpu-max-all-N`: max of every metric over `hosts`, per hour, over
/// `window` (8 hours).
pub(crate) fn cpu_max_all(
    name: &'static str,
    hosts: &[String],
    (from, to): (i64, i64),
) -> TsbsQuery {
    let hosts_sql = quoted(hosts);
    let (tf, sf) = time_filter(from, to);
    TsbsQuery {
        name,
        about: format!(
            "max of all 10 metrics over {} host(s), per hour, {} h",
            hosts.len(),
            (to - from) / HOUR
        ),
        tsq: format!(
            "SELECT {} FROM cpu WHERE hostname IN ({hosts_sql}) AND {tf} SAMPLE BY 1h max FILL(null)",
            aggs("max", &FIELDS)
        ),
        sql: format!(
            "SELECT {BUCKET_1H} AS time, {} FROM cpu WHERE hostname IN ({hosts_sql}) AND {sf} GROUP BY 1",
            aggs("max", &FIELDS)
        ),
        points: hosts.len() * FIELDS.len() * steps(from, to),
        window: (from, to),
        hosts: hosts.to_vec(),
    }
}

/// TSBS `high-cpu-1` (`host` set: that host) and `high-cpu-all` (every
/// host, `None`): every reading where `usage_user > 90`, over `window` (12
/// hours); `hosts` is how many the data has.
pub(crate) fn high_cpu(
    name: &'static str,
    host: Option<&str>,
    (from, to): (i64, i64),
    hosts: usize,
) -> TsbsQuery {
    let (tf, sf) = time_filter(from, to);
    let fields = FIELDS.join(", ");
    let (which, host_test, count) = match host {
        Some(h) => (h.to_string(), format!("hostname = '{h}' AND "), 1),
        None => ("every host".to_string(), String::new(), hosts),
    };
    TsbsQuery {
        name,
        about: format!(
            "all readings of {which} with usage_user > 90, {} h",
            (to - from) / HOUR
        ),
        tsq: format!("SELECT {fields} FROM cpu WHERE {host_test}usage_user > 90 AND {tf}"),
        sql: format!(
            "SELECT time, {}, {fields} FROM cpu WHERE {host_test}usage_user > 90 AND {sf}",
            TAG_KEYS.join(", ")
        ),
        points: count * FIELDS.len() * steps(from, to),
        window: (from, to),
        hosts: host.map(|h| vec![h.to_string()]).unwrap_or_default(),
    }
}

/// The last value of every metric of every host, from the data's `span`
/// (its first timestamp; `hosts` hosts). tsq's `SAMPLE BY ALL` stamps its
/// one bucket with the start of the range, so the SQL does too.
pub(crate) fn lastpoint((start, end): (i64, i64), hosts: usize) -> TsbsQuery {
    let (a, sa) = instant(start);
    let last: Vec<String> = FIELDS
        .iter()
        .map(|f| format!("last_value({f} ORDER BY time) AS \"last({f})\""))
        .collect();
    TsbsQuery {
        name: "lastpoint",
        about: "the last reading of every metric of every host".into(),
        tsq: format!(
            "SELECT {} FROM cpu WHERE time >= {a} GROUP BY hostname SAMPLE BY ALL last",
            aggs("last", &FIELDS)
        ),
        sql: format!(
            "SELECT {sa} AS time, hostname, {} FROM cpu WHERE time >= {sa} GROUP BY hostname",
            last.join(", ")
        ),
        points: hosts * FIELDS.len() * steps(start, end),
        window: (start, end),
        hosts: Vec::new(),
    }
}

/// TSBS `groupby-orderby-limit`: the max of `usage_user` across every host
/// per minute, the five newest minutes before `before`, in data whose span
/// is `span` (`hosts` hosts).
pub(crate) fn groupby_orderby_limit(
    before: i64,
    (start, _): (i64, i64),
    hosts: usize,
) -> TsbsQuery {
    let (m, sm) = instant(before);
    TsbsQuery {
        name: "groupby-orderby-limit",
        about: "max per minute across all hosts before a time, last 5 minutes".into(),
        tsq: format!(
            "SELECT max(usage_user) FROM cpu WHERE time < {m} SAMPLE BY 1m max FILL(null) ORDER BY time DESC LIMIT 5"
        ),
        sql: format!(
            "SELECT {BUCKET_1M} AS time, max(usage_user) FROM cpu WHERE time < {sm} GROUP BY 1 ORDER BY 1 DESC LIMIT 5"
        ),
        points: hosts * steps(start, before),
        window: (start, before),
        hosts: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::DEFAULT_START;

    #[test]
    fn single_groupby_text_and_points() {
        let config = DemoConfig {
            hosts: 10,
            hours: 12,
            seed: 1,
            start: DEFAULT_START,
        };
        let q = &queries(&config)[0];
        assert_eq!(
            q.tsq,
            "SELECT max(usage_user) FROM cpu WHERE hostname IN ('host_0') AND \
             time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T01:00:00Z' \
             SAMPLE BY 1m max FILL(null)"
        );
        // 1 host × 1 field × 360 timestamps in one hour
        assert_eq!(q.points, 360);
        let q = &queries(&config)[5];
        assert_eq!(q.name, "single-groupby-5-8-1");
        // 8 hosts × 5 fields × 360
        assert_eq!(q.points, 14_400);
        let q = &queries(&config)[1];
        assert_eq!(q.name, "single-groupby-1-1-12");
        // 1 host × 1 field × 4320 timestamps in 12 hours
        assert_eq!(q.points, 4320);
    }

    #[test]
    fn windows_are_clamped_to_the_data() {
        let config = DemoConfig {
            hosts: 4,
            hours: 2,
            seed: 1,
            start: DEFAULT_START,
        };
        let all = queries(&config);
        let names: Vec<&str> = all.iter().map(|q| q.name).collect();
        // the fifteen TSBS cpu-only queries
        assert_eq!(
            names,
            [
                "single-groupby-1-1-1",
                "single-groupby-1-1-12",
                "single-groupby-1-8-1",
                "single-groupby-5-1-1",
                "single-groupby-5-1-12",
                "single-groupby-5-8-1",
                "cpu-max-all-1",
                "cpu-max-all-8",
                "double-groupby-1",
                "double-groupby-5",
                "double-groupby-all",
                "high-cpu-all",
                "high-cpu-1",
                "lastpoint",
                "groupby-orderby-limit"
            ]
        );
        let q = |name: &str| all.iter().find(|q| q.name == name).unwrap();
        // single-groupby-1-1-12 wants 12 h; the data has 2: 1 × 1 × 720
        assert_eq!(q("single-groupby-1-1-12").points, 720);
        assert!(q("single-groupby-1-1-12")
            .tsq
            .contains("time < '2024-01-01T02:00:00Z'"));
        // single-groupby-5-1-12: 5 fields × 1 host × 720
        assert_eq!(q("single-groupby-5-1-12").points, 3600);
        // single-groupby-1-8-1 with 4 hosts: 4 × 1 × 360
        assert_eq!(q("single-groupby-1-8-1").points, 1440);
        assert!(q("single-groupby-1-8-1")
            .tsq
            .contains("hostname IN ('host_0', 'host_1', 'host_2', 'host_3')"));
        // double-groupby-1 wants 12 h; the data has 2: 4 hosts × 1 × 720
        assert_eq!(q("double-groupby-1").points, 2880);
        assert!(q("double-groupby-1")
            .tsq
            .contains("time < '2024-01-01T02:00:00Z'"));
        // double-groupby-5: 4 hosts × 5 × 720
        assert_eq!(q("double-groupby-5").points, 14_400);
        assert!(q("double-groupby-5").tsq.starts_with(
            "SELECT avg(usage_user), avg(usage_system), avg(usage_idle), avg(usage_nice), avg(usage_iowait) FROM"
        ));
        // cpu-max-all-8 with 4 hosts: 4 × 10 × 720; cpu-max-all-1: 1 × 10 × 720
        assert_eq!(q("cpu-max-all-8").points, 28_800);
        assert_eq!(q("cpu-max-all-1").points, 7200);
        assert!(q("cpu-max-all-1").tsq.contains("hostname IN ('host_0')"));
        // high-cpu-all reads every host: 4 × 10 × 720, and tests no host
        assert_eq!(q("high-cpu-all").points, 28_800);
        assert!(!q("high-cpu-all").tsq.contains("hostname"));
        assert!(q("high-cpu-1")
            .tsq
            .contains("hostname = 'host_0' AND usage_user > 90"));
        // groupby-orderby-limit stops at the middle (1 h): 4 hosts × 360
        assert_eq!(q("groupby-orderby-limit").points, 1440);
        assert!(q("groupby-orderby-limit")
            .sql
            .contains("time < TIMESTAMP '2024-01-01T01:00:00'"));
    }
}
