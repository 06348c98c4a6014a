//! The aligned table printed for people (psql style): a header, a rule,
//! numbers right-aligned, text left-aligned, then a row count. In the REPL the
//! table is cut to the terminal width (whole columns are dropped from the
//! right) and to a row limit, with a note saying what was not shown.

use std::io::{self, Write};

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;

use super::cell::cell;

/// Limits applied to a table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableOptions {
    /// Maximum line width in characters (`None`: no limit).
    pub max_width: Option<usize>,
    /// Maximum rows shown (`None`: all).
    pub max_rows: Option<usize>,
}

/// Cell texts and alignment of the rows shown.
struct Grid {
    header: Vec<String>,
    rows: Vec<Vec<(String, bool)>>,
    total_rows: usize,
}

fn collect(schema: &Schema, batches: &[RecordBatch], max_rows: usize) -> Grid {
    let header = schema.fields().iter().map(|f| f.name().clone()).collect();
    let total_rows = batches.iter().map(RecordBatch::num_rows).sum();
    let mut rows = Vec::new();
    'outer: for batch in batches {
        for row in 0..batch.num_rows() {
            if rows.len() == max_rows {
                break 'outer;
            }
            let cells = batch.columns().iter().map(|c| {
                let v = cell(c.as_ref(), row);
                (v.text(), v.is_numeric())
            });
            rows.push(cells.collect());
        }
    }
    Grid {
        header,
        rows,
        total_rows,
    }
}

/// How many leading columns fit in `max_width` (at least one).
fn columns_that_fit(widths: &[usize], max_width: Option<usize>) -> usize {
    let Some(max) = max_width else {
        return widths.len();
    };
    // Each column takes its width plus one space on each side, plus a `|`
    // between columns.
    let mut used = 0;
    for (i, w) in widths.iter().enumerate() {
        used += w + 2 + usize::from(i > 0);
        if used > max && i > 0 {
            return i;
        }
    }
    widths.len()
}

fn line(cells: &[(String, bool)], widths: &[usize]) -> String {
    let parts: Vec<String> = cells
        .iter()
        .zip(widths)
        .map(|((text, right), w)| {
            let pad = w - text.chars().count();
            if *right {
                format!(" {}{text} ", " ".repeat(pad))
            } else {
                format!(" {text}{} ", " ".repeat(pad))
            }
        })
        .collect();
    parts.join("|").trim_end().to_string()
}

/// Writes the table and its notes.
pub fn write_table(
    out: &mut dyn Write,
    schema: &Schema,
    batches: &[RecordBatch],
    options: &TableOptions,
) -> io::Result<()> {
    let grid = collect(schema, batches, options.max_rows.unwrap_or(usize::MAX));
    let mut widths: Vec<usize> = grid.header.iter().map(|h| h.chars().count()).collect();
    for row in &grid.rows {
        for (w, (text, _)) in widths.iter_mut().zip(row) {
            *w = (*w).max(text.chars().count());
        }
    }
    let shown = columns_that_fit(&widths, options.max_width);
    let widths = &widths[..shown];
    let header: Vec<(String, bool)> = grid.header.iter().map(|h| (h.clone(), false)).collect();
    writeln!(out, "{}", line(&header[..shown], widths))?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    writeln!(out, "{}", rule.join("+"))?;
    for row in &grid.rows {
        writeln!(out, "{}", line(&row[..shown], widths))?;
    }
    let noun = if grid.total_rows == 1 { "row" } else { "rows" };
    writeln!(out, "({} {noun})", grid.total_rows)?;
    if grid.rows.len() < grid.total_rows {
        let hidden = grid.total_rows - grid.rows.len();
        writeln!(
            out,
            "({hidden} more rows not shown; \\format csv prints them all)"
        )?;
    }
    if shown < grid.header.len() {
        let names = grid.header[shown..].join(", ");
        let n = grid.header.len() - shown;
        let noun = if n == 1 { "column" } else { "columns" };
        writeln!(
            out,
            "({n} {noun} not shown, too wide for the terminal: {names})"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::format::test_data::sample;

    fn render(options: TableOptions) -> String {
        let (schema, batches) = sample();
        let mut out = Vec::new();
        write_table(&mut out, &schema, &batches, &options).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn aligns_text_left_and_numbers_right() {
        // Widths: time 30 (the 1 ns timestamp), host 5 (`b,"c"`), avg(v) 6.
        let expected = concat!(
            " time                           | host  | avg(v)\n",
            "--------------------------------+-------+--------\n",
            " 2024-01-01T00:00:00Z           | a     |    1.5\n",
            " 2024-01-01T00:00:10.500Z       | a     |\n",
            " 2024-01-01T00:00:20.000000001Z | b,\"c\" |    NaN\n",
            "(3 rows)\n",
        );
        assert_eq!(render(TableOptions::default()), expected);
    }

    #[test]
    fn cuts_columns_and_rows_with_a_note() {
        // Only the first row counts for widths: time 20 + 2 = 22 characters,
        // host 4 + 3 → 29, avg(v) 6 + 3 → 38 > 35, so it is dropped.
        let options = TableOptions {
            max_width: Some(35),
            max_rows: Some(1),
        };
        let expected = concat!(
            " time                 | host\n",
            "----------------------+------\n",
            " 2024-01-01T00:00:00Z | a\n",
            "(3 rows)\n",
            "(2 more rows not shown; \\format csv prints them all)\n",
            "(1 column not shown, too wide for the terminal: avg(v))\n",
        );
        assert_eq!(render(options), expected);
    }
}
