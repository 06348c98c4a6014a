//! `\chart`: the last result drawn as a terminal line chart.
//!
//! Each group (the tag columns of a row) and value column is one line, time
//! runs along x. The plot is drawn with Unicode braille characters, each a
//! 2 × 4 grid of dots, so a `w × h` character plot has `2w × 4h` dots.
//! Consecutive points of a line are joined with Bresenham segments; with
//! colour on, each character takes the colour of the last line drawn through
//! it and the legend shows which colour is which.
//!
//! ```text
//! 3.00 ┤  ⡠⠊
//! 0.00 ┤⡠⠊
//!      └────
//! ```

use std::collections::HashMap;

use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;

use crate::cli::format::cell::{cell, format_time, Cell};

/// One line of the chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSeries {
    /// Legend text: `tag=value,…` and the value column when there are several.
    pub label: String,
    /// `(time ns, value)`, finite values only, in result order.
    pub points: Vec<(i64, f64)>,
}

/// Size of the plot area in characters, and whether to use ANSI colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartOptions {
    /// Plot width in characters.
    pub width: usize,
    /// Plot height in characters.
    pub height: usize,
    /// Colour each line.
    pub color: bool,
}

/// The lines of a result: its first timestamp column is x, its text columns
/// form the group, every float column is a value. Nulls and NaNs are skipped.
pub fn series_from_result(
    schema: &Schema,
    batches: &[RecordBatch],
) -> Result<Vec<ChartSeries>, String> {
    let fields = schema.fields();
    let time = fields
        .iter()
        .position(|f| matches!(f.data_type(), DataType::Timestamp(..)))
        .ok_or("\\chart needs a result with a time column")?;
    let tags: Vec<usize> = (0..fields.len())
        .filter(|&i| fields[i].data_type() == &DataType::Utf8)
        .collect();
    let values: Vec<usize> = (0..fields.len())
        .filter(|&i| fields[i].data_type() == &DataType::Float64)
        .collect();
    if values.is_empty() {
        return Err("\\chart needs a result with a float column".into());
    }
    let mut out: Vec<ChartSeries> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for batch in batches {
        for row in 0..batch.num_rows() {
            let Cell::Time(t) = cell(batch.column(time).as_ref(), row) else {
                continue;
            };
            let group: Vec<String> = tags
                .iter()
                .map(|&i| {
                    format!(
                        "{}={}",
                        fields[i].name(),
                        cell(batch.column(i).as_ref(), row).text()
                    )
                })
                .collect();
            for &v in &values {
                let mut label = group.join(",");
                if values.len() > 1 || label.is_empty() {
                    label = format!("{label} {}", fields[v].name()).trim().to_string();
                }
                let slot = *index.entry(label.clone()).or_insert_with(|| {
                    out.push(ChartSeries {
                        label,
                        points: Vec::new(),
                    });
                    out.len() - 1
                });
                if let Cell::Float(x) = cell(batch.column(v).as_ref(), row) {
                    if x.is_finite() {
                        out[slot].points.push((t, x));
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Braille dot bits, indexed `[row within the cell][column within the cell]`.
const DOT_BITS: [[u8; 2]; 4] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]];

/// A braille canvas: per character, its dot bits and the last line drawn.
struct Canvas {
    width: usize,
    height: usize,
    cells: Vec<(u8, usize)>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        Canvas {
            width,
            height,
            cells: vec![(0, 0); width * height],
        }
    }

    /// Sets dot `(x, y)` (y = 0 at the top) for line `owner`.
    fn dot(&mut self, x: i64, y: i64, owner: usize) {
        let (x, y) = (x as usize, y as usize);
        let cell = &mut self.cells[(y / 4) * self.width + x / 2];
        cell.0 |= DOT_BITS[y % 4][x % 2];
        cell.1 = owner;
    }

    /// Bresenham segment from `a` to `b`, both ends included.
    fn segment(&mut self, a: (i64, i64), b: (i64, i64), owner: usize) {
        let (mut x, mut y) = a;
        let (dx, dy) = ((b.0 - x).abs(), -(b.1 - y).abs());
        let (sx, sy) = ((b.0 - x).signum(), (b.1 - y).signum());
        let mut err = dx + dy;
        loop {
            self.dot(x, y, owner);
            if (x, y) == b {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Row `r` as text (trailing blanks trimmed); with `color`, each run of
    /// characters of one line is wrapped in that line's colour.
    fn row(&self, r: usize, color: bool) -> String {
        let mut s = String::new();
        let mut open: Option<usize> = None;
        for &(bits, owner) in &self.cells[r * self.width..(r + 1) * self.width] {
            if bits == 0 {
                s.push(' ');
                continue;
            }
            if color && open != Some(owner) {
                if open.is_some() {
                    s.push_str("\x1b[0m");
                }
                s.push_str(&format!("\x1b[{}m", ansi(owner)));
                open = Some(owner);
            }
            s.push(char::from_u32(0x2800 + u32::from(bits)).unwrap_or('?'));
        }
        let mut s = s.trim_end().to_string();
        if open.is_some() {
            s.push_str("\x1b[0m");
        }
        s
    }
}

/// ANSI foreground colour code of line `i` (red, green, yellow, blue, …).
fn ansi(i: usize) -> u8 {
    31 + (i % 6) as u8
}

/// Draws `series`; an error when no line has a point.
pub fn render_chart(series: &[ChartSeries], options: &ChartOptions) -> Result<String, String> {
    let all = series.iter().flat_map(|s| s.points.iter());
    let (mut t0, mut t1, mut v0, mut v1) = (i64::MAX, i64::MIN, f64::INFINITY, f64::NEG_INFINITY);
    for &(t, v) in all {
        (t0, t1, v0, v1) = (t0.min(t), t1.max(t), v0.min(v), v1.max(v));
    }
    if t0 > t1 {
        return Err("nothing to chart: the last result has no numeric values".into());
    }
    let (w, h) = (options.width.max(1), options.height.max(1));
    let (dots_x, dots_y) = ((2 * w - 1) as f64, (4 * h - 1) as f64);
    let to_x = |t: i64| {
        if t1 == t0 {
            0
        } else {
            ((t - t0) as f64 / (t1 - t0) as f64 * dots_x).round() as i64
        }
    };
    let to_y = |v: f64| {
        let up = if v1 == v0 { 0.5 } else { (v - v0) / (v1 - v0) };
        (dots_y - (up * dots_y).round()) as i64
    };
    let mut canvas = Canvas::new(w, h);
    for (i, s) in series.iter().enumerate() {
        let dots: Vec<(i64, i64)> = s.points.iter().map(|&(t, v)| (to_x(t), to_y(v))).collect();
        for (j, &d) in dots.iter().enumerate() {
            let from = if j == 0 { d } else { dots[j - 1] };
            canvas.segment(from, d, i);
        }
    }
    Ok(layout(&canvas, series, (t0, t1), (v0, v1), options.color))
}

/// Axes, labels and legend around the canvas.
fn layout(
    canvas: &Canvas,
    series: &[ChartSeries],
    t: (i64, i64),
    v: (f64, f64),
    color: bool,
) -> String {
    let (top, bottom) = (format!("{:.2}", v.1), format!("{:.2}", v.0));
    let lw = top.len().max(bottom.len());
    let mut out = String::new();
    for r in 0..canvas.height {
        let (label, tick) = match r {
            0 => (top.as_str(), '┤'),
            r if r + 1 == canvas.height => (bottom.as_str(), '┤'),
            _ => ("", '│'),
        };
        out.push_str(&format!("{label:>lw$} {tick}{}\n", canvas.row(r, color)));
    }
    out.push_str(&format!("{:lw$} └{}\n", "", "─".repeat(canvas.width)));
    let (start, end) = (format_time(t.0), format_time(t.1));
    let gap = canvas.width.saturating_sub(start.len() + end.len()).max(2);
    out.push_str(&format!("{:lw$}  {start}{}{end}\n", "", " ".repeat(gap)));
    for (i, s) in series.iter().enumerate() {
        if color {
            out.push_str(&format!("\x1b[{}m──\x1b[0m {}\n", ansi(i), s.label));
        } else {
            out.push_str(&format!("── {}\n", s.label));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::format::test_data::sample;

    const S: i64 = 1_000_000_000;

    #[test]
    fn draws_a_rising_line_in_braille() {
        // 4 × 2 characters = 8 × 8 dots. t = 0,10,20,30 s → x = round(t/30·7)
        // = 0,2,5,7; v = 0..3 → y from the top = 7 - round(v/3·7) = 7,5,2,0.
        // The segments fill in (1,6), (3,4), (4,3), (6,1): one dot per column.
        // Top row: (4,3)+(5,2) = 0x40|0x20 = ⡠ in cell 2, (6,1)+(7,0) =
        // 0x02|0x08 = ⠊ in cell 3; the bottom row mirrors it in cells 0 and 1.
        let series = [ChartSeries {
            label: "host=a".into(),
            points: (0..4).map(|i| (i * 10 * S, i as f64)).collect(),
        }];
        let options = ChartOptions {
            width: 4,
            height: 2,
            color: false,
        };
        let expected = "\
3.00 ┤  ⡠⠊
0.00 ┤⡠⠊
     └────
      1970-01-01T00:00:00Z  1970-01-01T00:00:30Z
── host=a
";
        assert_eq!(render_chart(&series, &options).unwrap(), expected);
    }

    #[test]
    fn flat_lines_sit_in_the_middle_and_share_cells() {
        // One value: v0 = v1, every point at half height: y = 3 - round(1.5)
        // = 1 in a 1-row chart, x = 0 (a single timestamp). Bit (row 1, col 0)
        // is 0x02 = ⠂; the second line draws the same dot.
        let series = [
            ChartSeries {
                label: "a".into(),
                points: vec![(5, 2.0)],
            },
            ChartSeries {
                label: "b".into(),
                points: vec![(5, 2.0)],
            },
        ];
        let options = ChartOptions {
            width: 2,
            height: 1,
            color: false,
        };
        let got = render_chart(&series, &options).unwrap();
        assert_eq!(got.lines().next().unwrap(), "2.00 ┤⠂");
        assert!(got.ends_with("── a\n── b\n"));
    }

    #[test]
    fn colour_wraps_cells_and_legend() {
        let series = [ChartSeries {
            label: "x".into(),
            points: vec![(0, 1.0)],
        }];
        let options = ChartOptions {
            width: 1,
            height: 1,
            color: true,
        };
        let got = render_chart(&series, &options).unwrap();
        assert!(got.starts_with("1.00 ┤\x1b[31m⠂\x1b[0m\n"), "{got:?}");
        assert!(got.ends_with("\x1b[31m──\x1b[0m x\n"));
    }

    #[test]
    fn each_line_keeps_its_colour() {
        // Width 2 = 4 dots: t = 0 → x 0 (cell 0, left column), t = 1 → x 3
        // (cell 1, right column); one value → y 1: bits 0x02 ⠂ and 0x10 ⠐.
        let series = [
            ChartSeries {
                label: "a".into(),
                points: vec![(0, 1.0)],
            },
            ChartSeries {
                label: "b".into(),
                points: vec![(1, 1.0)],
            },
        ];
        let options = ChartOptions {
            width: 2,
            height: 1,
            color: true,
        };
        let got = render_chart(&series, &options).unwrap();
        let first = got.lines().next().unwrap();
        assert_eq!(first, "1.00 ┤\x1b[31m⠂\x1b[0m\x1b[32m⠐\x1b[0m");
    }

    #[test]
    fn series_come_from_tag_and_float_columns() {
        // Rows: (t0, a, 1.5), (t1, a, null), (t2, `b,"c"`, NaN): the null and
        // the NaN are skipped, so b has no point and the chart shows only a.
        let (schema, batches) = sample();
        let got = series_from_result(&schema, &batches).unwrap();
        assert_eq!(
            got,
            vec![
                ChartSeries {
                    label: "host=a".into(),
                    points: vec![(1_704_067_200 * S, 1.5)]
                },
                ChartSeries {
                    label: "host=b,\"c\"".into(),
                    points: vec![]
                },
            ]
        );
        assert!(render_chart(
            &[],
            &ChartOptions {
                width: 3,
                height: 3,
                color: false
            }
        )
        .is_err());
    }
}
