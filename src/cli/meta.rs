//! Backslash commands of the REPL (`\timing`, `\format`, `\d`, `\chart`,
//! `\strategy`, `\executor`, `\set`, `\help`, `\q`), parsed into
//! [`MetaCommand`].

use tsq_engine::spec::AggStrategy;
use tsq_planner::Executor;

use crate::cli::format::OutputFormat;

/// A parsed backslash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaCommand {
    /// `\timing [on|off]`: set, or toggle without argument.
    Timing(Option<bool>),
    /// `\format table|csv|json|ndjson`; without argument shows the current one.
    Format(Option<OutputFormat>),
    /// `\d` (measurements) or `\d <measurement>` (its tags, fields, series).
    Describe(Option<String>),
    /// `\strategy [auto|pipe|grouped|mt]`: force the cross-timeline
    /// aggregation operator (`Some(None)` is `auto`); without argument shows it.
    Strategy(Option<Option<AggStrategy>>),
    /// `\executor [pipelined|materialized]`: run the following statements
    /// through the operator pipelines or the materialized executor (the
    /// benchmarks' baseline); without argument shows it.
    Executor(Option<Executor>),
    /// `\set <name> <value>`: change a per-query limit; `\set` alone shows
    /// them.
    Set(Option<Setting>),
    /// `\chart`: draw the last result.
    Chart,
    /// `\help` or `\?`.
    Help,
    /// `\q` or `\quit`.
    Quit,
}

/// A per-query limit `\set` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `\set memory_budget 1GiB`: the memory budget of each query.
    MemoryBudget(usize),
    /// `\set max_buckets 1000000`: most `SAMPLE BY` buckets per timeline.
    MaxBuckets(u64),
    /// `\threads 4` (or `\set threads 4`): threads of each query.
    Threads(usize),
}

/// The text `\help` prints.
pub const HELP: &str = "\
Statements end with `;` and may span several lines (Ctrl-C cancels a running query).
  SELECT ... ;                 run a query (see docs/query-language.md)
  EXPLAIN SELECT ... ;         show the operator tree and why each operator was chosen
  EXPLAIN ANALYZE SELECT ... ; run it and show rows, batches, time and memory per operator
  SHOW MEASUREMENTS | TAG KEYS | TAG VALUES WITH KEY = k | FIELD KEYS | SERIES [FROM m] ;
                               list what the store holds (from the index)
Commands:
  \\d                  list measurements
  \\d <measurement>    its tag keys, fields (with types) and series count
  \\format [table|csv|json|ndjson]   output format (no argument: show it)
  \\timing [on|off]    print how long each statement took
  \\strategy [auto|pipe|grouped|mt]  force the aggregation operator (auto: the planner's choice)
  \\executor [pipelined|materialized]  run queries through the operators or the materialized baseline
  \\set memory_budget SIZE   memory budget of each query (512MiB, 2GiB, bytes)
  \\set max_buckets N        most SAMPLE BY buckets per timeline (\\set alone shows the settings)
  \\threads [N]        threads (partitions per value column) of each query; no argument: show it
  \\chart              draw the last result as a line chart
  \\set allow_partial [on|off]  run queries without damaged files (listing them) instead of failing
  \\help               this text
  \\q                  quit (or Ctrl-D)
";

/// Parses a line starting with `\`.
pub fn parse_meta(line: &str) -> Result<MetaCommand, String> {
    let line = line.trim().trim_end_matches(';');
    if let Some(rest) = line
        .strip_prefix("\\set")
        .filter(|r| r.is_empty() || r.starts_with(char::is_whitespace))
    {
        return parse_set(rest.trim()).map(MetaCommand::Set);
    }
    let mut words = line.split_whitespace();
    let name = words.next().unwrap_or("");
    let arg = words.next();
    if let Some(extra) = words.next() {
        return Err(format!("{name}: unexpected argument '{extra}'"));
    }
    let cmd = match (name, arg) {
        ("\\timing", None) => MetaCommand::Timing(None),
        ("\\timing", Some("on")) => MetaCommand::Timing(Some(true)),
        ("\\timing", Some("off")) => MetaCommand::Timing(Some(false)),
        ("\\timing", Some(other)) => {
            return Err(format!("\\timing: expected on or off, got '{other}'"))
        }
        ("\\format", None) => MetaCommand::Format(None),
        ("\\format", Some(f)) => {
            MetaCommand::Format(Some(f.parse().map_err(|e| format!("\\format: {e}"))?))
        }
        ("\\strategy", None) => MetaCommand::Strategy(None),
        ("\\strategy", Some(s)) => MetaCommand::Strategy(Some(parse_strategy(s)?)),
        ("\\executor", None) => MetaCommand::Executor(None),
        ("\\executor", Some(e)) => MetaCommand::Executor(Some(parse_executor(e)?)),
        ("\\threads", None) => MetaCommand::Set(None),
        ("\\threads", Some(n)) => MetaCommand::Set(Some(parse_threads(n)?)),
        ("\\d", m) => MetaCommand::Describe(m.map(str::to_string)),
        ("\\chart", None) => MetaCommand::Chart,
        ("\\help" | "\\?" | "\\h", None) => MetaCommand::Help,
        ("\\q" | "\\quit", None) => MetaCommand::Quit,
        ("\\chart" | "\\help" | "\\?" | "\\h" | "\\q" | "\\quit", Some(a)) => {
            return Err(format!("{name}: unexpected argument '{a}'"))
        }
        _ => {
            return Err(format!(
                "unknown command '{name}' (\\help lists the commands)"
            ))
        }
    };
    Ok(cmd)
}

/// The arguments of `\set`: nothing, or a name and a value.
fn parse_set(args: &str) -> Result<Option<Setting>, String> {
    if args.is_empty() {
        return Ok(None);
    }
    let (name, value) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    let value = value.trim();
    if value.is_empty() {
        return Err(format!("\\set {name}: a value is needed"));
    }
    match name {
        "memory_budget" => crate::cli::args::parse_byte_size(value)
            .map(|b| Some(Setting::MemoryBudget(b)))
            .map_err(|e| format!("\\set memory_budget: {e}")),
        "max_buckets" => match value.replace('_', "").parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(Setting::MaxBuckets(n))),
            _ => Err(format!(
                "\\set max_buckets: expected a positive whole number, got '{value}'"
            )),
        },
        "threads" => parse_threads(value).map(Some),
        other => Err(format!(
            "\\set: unknown setting '{other}' (expected memory_budget, max_buckets or threads)"
        )),
    }
}

/// The thread count of `\threads N`: 1 to 1024.
fn parse_threads(value: &str) -> Result<Setting, String> {
    match value.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(Setting::Threads(n)),
        _ => Err(format!(
            "\\threads: expected a whole number from 1 to 1024, got '{value}'"
        )),
    }
}

/// `pipelined` or `materialized`.
pub fn parse_executor(s: &str) -> Result<Executor, String> {
    match s.to_ascii_lowercase().as_str() {
        "pipelined" => Ok(Executor::Pipelined),
        "materialized" => Ok(Executor::Materialized),
        other => Err(format!(
            "unknown executor '{other}' (expected pipelined or materialized)"
        )),
    }
}

/// `auto` (the planner decides), `pipe`, `grouped` or `mt`.
pub fn parse_strategy(s: &str) -> Result<Option<AggStrategy>, String> {
    match s.to_ascii_lowercase().as_str() {
        "auto" => Ok(None),
        "pipe" => Ok(Some(AggStrategy::Pipe)),
        "grouped" => Ok(Some(AggStrategy::Grouped)),
        "mt" => Ok(Some(AggStrategy::MT)),
        other => Err(format!(
            "unknown strategy '{other}' (expected auto, pipe, grouped or mt)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command() {
        assert_eq!(parse_meta("\\timing"), Ok(MetaCommand::Timing(None)));
        assert_eq!(
            parse_meta(" \\timing off "),
            Ok(MetaCommand::Timing(Some(false)))
        );
        assert_eq!(
            parse_meta("\\format csv"),
            Ok(MetaCommand::Format(Some(OutputFormat::Csv)))
        );
        assert_eq!(parse_meta("\\format"), Ok(MetaCommand::Format(None)));
        assert_eq!(parse_meta("\\d"), Ok(MetaCommand::Describe(None)));
        assert_eq!(
            parse_meta("\\d cpu;"),
            Ok(MetaCommand::Describe(Some("cpu".into())))
        );
        assert_eq!(parse_meta("\\chart"), Ok(MetaCommand::Chart));
        assert_eq!(parse_meta("\\strategy"), Ok(MetaCommand::Strategy(None)));
        assert_eq!(
            parse_meta("\\strategy auto"),
            Ok(MetaCommand::Strategy(Some(None)))
        );
        assert_eq!(
            parse_meta("\\strategy MT"),
            Ok(MetaCommand::Strategy(Some(Some(AggStrategy::MT))))
        );
        assert_eq!(parse_meta("\\?"), Ok(MetaCommand::Help));
        assert_eq!(parse_meta("\\q"), Ok(MetaCommand::Quit));
    }

    #[test]
    fn rejects_bad_commands_with_a_reason() {
        assert_eq!(
            parse_meta("\\format xml"),
            Err("\\format: unknown format 'xml' (expected table, csv, json or ndjson)".into())
        );
        assert_eq!(
            parse_meta("\\timing maybe"),
            Err("\\timing: expected on or off, got 'maybe'".into())
        );
        assert_eq!(
            parse_meta("\\strategy fast"),
            Err("unknown strategy 'fast' (expected auto, pipe, grouped or mt)".into())
        );
        assert_eq!(
            parse_meta("\\q now"),
            Err("\\q: unexpected argument 'now'".into())
        );
        assert_eq!(
            parse_meta("\\x"),
            Err("unknown command '\\x' (\\help lists the commands)".into())
        );
    }

    #[test]
    fn threads_command() {
        assert_eq!(parse_meta("\\threads"), Ok(MetaCommand::Set(None)));
        assert_eq!(
            parse_meta("\\threads 4;"),
            Ok(MetaCommand::Set(Some(Setting::Threads(4))))
        );
        assert_eq!(
            parse_meta("\\set threads 2"),
            Ok(MetaCommand::Set(Some(Setting::Threads(2))))
        );
        assert_eq!(
            parse_meta("\\threads 0"),
            Err("\\threads: expected a whole number from 1 to 1024, got '0'".into())
        );
    }

    #[test]
    fn set_command() {
        assert_eq!(parse_meta("\\set"), Ok(MetaCommand::Set(None)));
        assert_eq!(
            parse_meta("\\set memory_budget 1GiB"),
            Ok(MetaCommand::Set(Some(Setting::MemoryBudget(1 << 30))))
        );
        assert_eq!(
            parse_meta("\\set memory_budget 2 GiB;"),
            Ok(MetaCommand::Set(Some(Setting::MemoryBudget(2 << 30))))
        );
        assert_eq!(
            parse_meta("\\set max_buckets 1_000_000"),
            Ok(MetaCommand::Set(Some(Setting::MaxBuckets(1_000_000))))
        );
        assert_eq!(
            parse_meta("\\set max_buckets -1"),
            Err("\\set max_buckets: expected a positive whole number, got '-1'".into())
        );
        assert_eq!(
            parse_meta("\\set memory_budget"),
            Err("\\set memory_budget: a value is needed".into())
        );
        assert_eq!(
            parse_meta("\\set colour blue"),
            Err(
                "\\set: unknown setting 'colour' (expected memory_budget, max_buckets or threads)"
                    .into()
            )
        );
        assert_eq!(
            parse_meta("\\settle"),
            Err("unknown command '\\settle' (\\help lists the commands)".into())
        );
    }

    #[test]
    fn executor_command() {
        assert_eq!(parse_meta("\\executor"), Ok(MetaCommand::Executor(None)));
        assert_eq!(
            parse_meta("\\executor Materialized"),
            Ok(MetaCommand::Executor(Some(Executor::Materialized)))
        );
        assert_eq!(
            parse_meta("\\executor fast"),
            Err("unknown executor 'fast' (expected pipelined or materialized)".into())
        );
    }
}
