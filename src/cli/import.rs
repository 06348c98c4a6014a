//! `tsq import`: line protocol from files or stdin into the store.
//!
//! Input is read in chunks of whole lines (a few MiB each) and handed to
//! [`Ingest::write_lines`]; rejected lines are reported as
//! `FILE:LINE:COLUMN: message` with the line counted in the whole file, the
//! valid lines around them are kept, and control characters in them are
//! escaped. A progress bar (bytes) is drawn on a terminal. An import that
//! fails part-way says how many points were acknowledged (durable) before
//! the failure.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::backend::{CliError, Ingest, Precision, Result};
use crate::cli::error_render::escape_controls;

/// Bytes of line protocol handed to the store per call.
const CHUNK_BYTES: usize = 4 << 20;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Points written.
    pub points: u64,
    /// Series created.
    pub series: u64,
    /// Lines rejected.
    pub rejected: usize,
    /// Inputs read.
    pub files: usize,
    /// Wall time.
    pub elapsed: Duration,
}

impl ImportSummary {
    /// One line: points, series, seconds, points/s and rejected lines.
    pub fn describe(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.points as f64 / secs
        } else {
            0.0
        };
        let files = if self.files == 1 { "file" } else { "files" };
        let mut text = format!(
            "imported {} points ({} new series) from {} {files} in {secs:.2} s ({rate:.0} points/s)",
            self.points, self.series, self.files
        );
        if self.rejected > 0 {
            text.push_str(&format!("; {} lines rejected", self.rejected));
        }
        text
    }
}

/// Imports every input (`-` is stdin), printing rejected lines to `err`.
/// On failure the error also says how many points were acknowledged
/// (durable) before it.
pub fn import(
    ingest: &dyn Ingest,
    inputs: &[String],
    precision: Precision,
    progress: bool,
    err: &mut dyn Write,
) -> Result<ImportSummary> {
    let started = Instant::now();
    let mut summary = ImportSummary::default();
    for input in inputs {
        import_input(ingest, input, precision, progress, &mut summary, err)
            .map_err(|e| with_acknowledged(e, &summary))?;
        summary.files += 1;
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// `e`, followed by a note of the points `summary` says were acknowledged.
fn with_acknowledged(e: CliError, summary: &ImportSummary) -> CliError {
    let files = match summary.files {
        1 => "1 complete file and ".to_string(),
        0 => String::new(),
        n => format!("{n} complete files and "),
    };
    CliError::Data(format!(
        "{e}\nnote: {} points ({} new series) from {files}the chunks before the failure were \
         acknowledged (durable) and stay in the store; importing the same input again is safe \
         (a point rewritten with the same series and timestamp is stored once)",
        summary.points, summary.series
    ))
}

/// Imports one input into `summary`.
fn import_input(
    ingest: &dyn Ingest,
    input: &str,
    precision: Precision,
    progress: bool,
    summary: &mut ImportSummary,
    err: &mut dyn Write,
) -> Result<()> {
    let (name, reader, len): (&str, Box<dyn Read>, Option<u64>) = if input == "-" {
        ("<stdin>", Box::new(io::stdin().lock()), None)
    } else {
        let file = File::open(input).map_err(|e| CliError::Data(format!("{input}: {e}")))?;
        let len = file.metadata().ok().map(|m| m.len());
        (input, Box::new(file), len)
    };
    let bar = progress_bar(progress, len, name);
    let result = import_one(
        ingest,
        name,
        BufReader::new(bar.wrap_read(reader)),
        precision,
        CHUNK_BYTES,
        summary,
        err,
    );
    bar.finish_and_clear();
    result
}

fn progress_bar(visible: bool, len: Option<u64>, name: &str) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner(),
    };
    bar.with_message(name.to_string())
}

/// Reads `reader` in chunks of whole lines and writes them.
fn import_one(
    ingest: &dyn Ingest,
    name: &str,
    mut reader: impl BufRead,
    precision: Precision,
    chunk_bytes: usize,
    summary: &mut ImportSummary,
    err: &mut dyn Write,
) -> Result<()> {
    let mut chunk = String::new();
    let mut chunk_first_line = 1; // file line number of the chunk's first line
    let mut next_line = 1;
    let mut raw = Vec::new();
    let mut issues = Vec::new(); // (file line, column, message) of this chunk
    loop {
        raw.clear();
        let n = reader.read_until(b'\n', &mut raw).map_err(|e| {
            CliError::Data(format!(
                "{name}: read failed after line {}: {e}",
                next_line - 1
            ))
        })?;
        if n > 0 {
            match std::str::from_utf8(&raw) {
                Ok(text) => chunk.push_str(text),
                Err(e) => {
                    issues.push((next_line, e.valid_up_to() + 1, "invalid UTF-8".to_string()));
                    chunk.push('\n'); // keep line numbers aligned
                }
            }
            next_line += 1;
        }
        if (n == 0 && !chunk.is_empty()) || chunk.len() >= chunk_bytes {
            let report = ingest.write_lines(&chunk, precision)?;
            summary.points += report.points;
            summary.series += report.series_created;
            let first = chunk_first_line;
            issues.extend(
                report
                    .errors
                    .into_iter()
                    .map(|e| (first + e.line - 1, e.column, e.message)),
            );
            issues.sort_by_key(|i| (i.0, i.1));
            // A line may have several errors (one per bad field): count lines.
            let mut lines: Vec<usize> = issues.iter().map(|i| i.0).collect();
            lines.dedup();
            summary.rejected += lines.len();
            let shown = escape_controls(name);
            for (line, column, message) in issues.drain(..) {
                let message = escape_controls(&message);
                let _ = writeln!(err, "{shown}:{line}:{column}: {message}");
            }
            chunk.clear();
            chunk_first_line = next_line;
        }
        if n == 0 {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::cli::backend::{LineIssue, WriteSummary};

    /// Records chunks; rejects lines containing `bad` at column 2 (and
    /// `twice` also at column 9), counts
    /// one point and one new series per other non-empty line.
    #[derive(Default)]
    struct Recorder(RefCell<Vec<String>>);

    impl Ingest for Recorder {
        fn write_lines(&self, text: &str, _: Precision) -> Result<WriteSummary> {
            self.0.borrow_mut().push(text.to_string());
            let mut summary = WriteSummary::default();
            for (i, line) in text.lines().enumerate() {
                if line.contains("bad") {
                    summary.errors.push(LineIssue {
                        line: i + 1,
                        column: 2,
                        message: "no".into(),
                    });
                    if line.contains("twice") {
                        summary.errors.push(LineIssue {
                            line: i + 1,
                            column: 9,
                            message: "again".into(),
                        });
                    }
                } else if !line.is_empty() {
                    summary.points += 1;
                    summary.series_created += 1;
                }
            }
            Ok(summary)
        }
    }

    #[test]
    fn reports_bad_lines_with_file_positions() {
        let ingest = Recorder::default();
        let input: &[u8] = b"m v=1 1\nbad\nm v=2 2\n\xff\xfe\nbad twice";
        let mut summary = ImportSummary::default();
        let mut err = Vec::new();
        import_one(
            &ingest,
            "f.lp",
            input,
            Precision::Ns,
            CHUNK_BYTES,
            &mut summary,
            &mut err,
        )
        .unwrap();
        // Lines 2 and 5 (twice) are rejected by the store, line 4 is not
        // UTF-8 (byte 1): four messages, three lines.
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "f.lp:2:2: no\nf.lp:4:1: invalid UTF-8\nf.lp:5:2: no\nf.lp:5:9: again\n"
        );
        assert_eq!(
            (summary.points, summary.series, summary.rejected),
            (2, 2, 3)
        );
        // One chunk, the invalid line replaced by an empty one.
        assert_eq!(
            *ingest.0.borrow(),
            vec!["m v=1 1\nbad\nm v=2 2\n\nbad twice".to_string()]
        );
    }

    /// Accepts every line of the first `ok_calls` calls, then fails.
    struct FailsAfter {
        ok_calls: usize,
        calls: RefCell<usize>,
    }

    impl Ingest for FailsAfter {
        fn write_lines(&self, text: &str, _: Precision) -> Result<WriteSummary> {
            *self.calls.borrow_mut() += 1;
            if *self.calls.borrow() > self.ok_calls {
                return Err(CliError::Data("write failed: disk full".into()));
            }
            Ok(WriteSummary {
                points: text.lines().filter(|l| !l.is_empty()).count() as u64,
                series_created: 1,
                errors: Vec::new(),
            })
        }
    }

    #[test]
    fn a_failure_part_way_reports_the_acknowledged_points() {
        let ingest = FailsAfter {
            ok_calls: 2,
            calls: RefCell::new(0),
        };
        // 10 lines of 8 bytes, chunks of at least 24 bytes: 3 lines per
        // chunk; chunks 1 and 2 (6 points, 2 series) land, chunk 3 fails.
        let input = "m v=1 1\n".repeat(10);
        let mut summary = ImportSummary::default();
        let err = import_one(
            &ingest,
            "f.lp",
            input.as_bytes(),
            Precision::Ns,
            24,
            &mut summary,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "write failed: disk full");
        assert_eq!((summary.points, summary.series), (6, 2));
        summary.files = 1;
        let err = with_acknowledged(err, &summary);
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            err.to_string(),
            "write failed: disk full\nnote: 6 points (2 new series) from 1 complete file and the \
             chunks before the failure were acknowledged (durable) and stay in the store; \
             importing the same input again is safe (a point rewritten with the same series and \
             timestamp is stored once)"
        );
    }

    /// Rejects every line, quoting it in the message as the store does.
    struct Quotes;

    impl Ingest for Quotes {
        fn write_lines(&self, text: &str, _: Precision) -> Result<WriteSummary> {
            let errors = text
                .lines()
                .enumerate()
                .map(|(i, line)| LineIssue {
                    line: i + 1,
                    column: 1,
                    message: format!("invalid field value '{line}'"),
                })
                .collect();
            Ok(WriteSummary {
                errors,
                ..WriteSummary::default()
            })
        }
    }

    #[test]
    fn control_bytes_of_rejected_lines_are_escaped() {
        let mut err = Vec::new();
        let mut summary = ImportSummary::default();
        let input: &[u8] = b"m v=a\0b\x1b[2J\tc\rd\n";
        import_one(
            &Quotes,
            "f\x07.lp",
            input,
            Precision::Ns,
            CHUNK_BYTES,
            &mut summary,
            &mut err,
        )
        .unwrap();
        // NUL, ESC, BEL and CR escaped; the tab kept.
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "f\\u{7}.lp:1:1: invalid field value 'm v=a\\u{0}b\\u{1b}[2J\tc\\rd'\n"
        );
        assert_eq!(summary.rejected, 1);
    }

    #[test]
    fn summary_names_points_series_and_rate() {
        let summary = ImportSummary {
            points: 500,
            series: 3,
            rejected: 2,
            files: 1,
            elapsed: Duration::from_millis(250),
        };
        // 500 points / 0.25 s = 2000 points/s.
        assert_eq!(
            summary.describe(),
            "imported 500 points (3 new series) from 1 file in 0.25 s (2000 points/s); 2 lines rejected"
        );
    }
}
