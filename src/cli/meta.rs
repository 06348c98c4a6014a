//! Backslash commands of the REPL (`\timing`, `\format`, `\d`, `\chart`,
//! `\strategy`, `\executor`, `\help`, `\q`), parsed into [`MetaCommand`].

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
    /// `\chart`: draw the last result.
    Chart,
    /// `\help` or `\?`.
    Help,
    /// `\q` or `\quit`.
    Quit,
}

/// The text `\help` prints.
pub const HELP: &str = "\
Statements end with `;` and may span several lines (Ctrl-C cancels a running query).
  SELECT ... ;                 run a query (see docs/query-language.md)
  EXPLAIN SELECT ... ;         show the operator tree and why each operator was chosen
  EXPLAIN ANALYZE SELECT ... ; run it and show rows, batches, time and memory per operator
Commands:
  \\d                  list measurements
  \\d <measurement>    its tag keys, fields and series count
  \\format [table|csv|json|ndjson]   output format (no argument: show it)
  \\timing [on|off]    print how long each statement took
  \\strategy [auto|pipe|grouped|mt]  force the aggregation operator (auto: the planner's choice)
  \\executor [pipelined|materialized]  run queries through the operators or the materialized baseline
  \\chart              draw the last result as a line chart
  \\set allow_partial [on|off]  run queries without damaged files (listing them) instead of failing
  \\help               this text
  \\q                  quit (or Ctrl-D)
";

/// Parses a line starting with `\`.
pub fn parse_meta(line: &str) -> Result<MetaCommand, String> {
    let line = line.trim().trim_end_matches(';');
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
