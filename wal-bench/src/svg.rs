//! Hand-made SVG charts: grouped bars, linear or logarithmic, with a reference line.
//!
//! Every chart says which way is better and, on a log axis, that it is one; a missing
//! bar says why ("n/a", "failed"); a log axis starts low enough that the smallest bar is
//! still a bar ([`log_range`]).

use std::fmt::Write as _;

/// Colours of the series, in order.
const COLOURS: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
];

/// On a log axis, the smallest bar takes at least this share of the plot's height.
pub const MIN_BAR_SHARE: f64 = 0.1;

/// What the values measure: sets how ticks and tooltips are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unit {
    /// A rate or a count: `750`, `7.5k`, `2.5M`.
    #[default]
    Count,
    /// Milliseconds, written as plain numbers (`0.1`, `1`, `1000`), never as `1M µs`.
    Millis,
}

/// Which way a chart's values are better.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Better {
    /// Taller bars are better (throughput).
    #[default]
    Higher,
    /// Shorter bars are better (latency).
    Lower,
}

/// One bar of a chart.
#[derive(Debug, Clone, PartialEq)]
pub enum Bar {
    /// A measured value (only finite, positive values are drawn).
    Value(f64),
    /// No value, and why, written where the bar would stand ("n/a", "failed").
    Label(String),
    /// Nothing to draw or say.
    Empty,
}

impl From<Option<f64>> for Bar {
    fn from(v: Option<f64>) -> Bar {
        v.map_or(Bar::Empty, Bar::Value)
    }
}

/// A dashed line across each group that has a value: what the machine itself can do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reference {
    /// Its legend entry.
    pub label: String,
    /// One value per group.
    pub values: Vec<Option<f64>>,
}

/// A grouped bar chart.
#[derive(Debug, Clone, Default)]
pub struct BarChart {
    /// Title at the top.
    pub title: String,
    /// Label of the y axis (" (log scale)" is added on a log axis).
    pub y_label: String,
    /// Logarithmic y axis.
    pub log: bool,
    /// How values are written.
    pub unit: Unit,
    /// Which way is better, written under the title.
    pub better: Better,
    /// One label per group (x axis); ` · ` splits a label over two lines.
    pub groups: Vec<String>,
    /// One name per series (legend).
    pub series: Vec<String>,
    /// `values[group][series]`.
    pub values: Vec<Vec<Bar>>,
    /// An optional reference line (the disk's own limit).
    pub reference: Option<Reference>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Ticks of a linear axis from 0 to at least `max`: (top, step).
fn linear_ticks(max: f64) -> (f64, f64) {
    let raw = (max / 5.0).max(f64::MIN_POSITIVE);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil().max(1.0) * step, step)
}

/// The bounds of a log axis holding `min..=max` (both positive): powers of ten, at least
/// one decade apart, the floor low enough that a bar of `min` takes at least
/// [`MIN_BAR_SHARE`] of the height (a floor just under the smallest value would draw it
/// as a sliver, or not at all when it is a power of ten).
pub fn log_range(min: f64, max: f64) -> (f64, f64) {
    let mut lo = 10f64.powf(min.log10().floor());
    let hi = 10f64.powf(max.log10().ceil()).max(lo * 10.0);
    while (min / lo).log10() / (hi / lo).log10() < MIN_BAR_SHARE {
        lo /= 10.0;
    }
    (lo, hi)
}

/// A value as a tick or tooltip writes it, in `unit`.
pub fn label(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Count if v >= 1e9 => format!("{}G", trim(v / 1e9, 2)),
        Unit::Count if v >= 1e6 => format!("{}M", trim(v / 1e6, 2)),
        Unit::Count if v >= 1e3 => format!("{}k", trim(v / 1e3, 2)),
        Unit::Count => trim(v, 2),
        // Three significant digits, without trailing zeros: 0.0861, 0.5, 12.3, 1500.
        Unit::Millis => {
            let digits = if v > 0.0 {
                (2.0 - v.log10().floor()).clamp(0.0, 6.0) as usize
            } else {
                0
            };
            trim(v, digits)
        }
    }
}

fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// Maps a value to a bar height in pixels.
struct Scale {
    log: bool,
    lo: f64,
    hi: f64,
    height: f64,
}

impl Scale {
    fn height(&self, v: f64) -> f64 {
        let share = if self.log {
            (v / self.lo).log10() / (self.hi / self.lo).log10()
        } else {
            v / self.hi
        };
        self.height * share.clamp(0.0, 1.0)
    }
}

impl BarChart {
    fn drawn(&self) -> Vec<f64> {
        let bars = self.values.iter().flatten().filter_map(|b| match b {
            Bar::Value(v) => Some(*v),
            _ => None,
        });
        let refs = self
            .reference
            .iter()
            .flat_map(|r| r.values.iter().flatten().copied());
        bars.chain(refs)
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect()
    }

    /// The y label as drawn.
    fn axis_label(&self) -> String {
        if self.log {
            format!("{} (log scale)", self.y_label)
        } else {
            self.y_label.clone()
        }
    }

    /// Legend entries: (series colour or `None` for the reference line, text).
    fn legend(&self) -> Vec<(Option<&'static str>, String)> {
        let mut l: Vec<_> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, n)| (Some(COLOURS[i % COLOURS.len()]), n.clone()))
            .collect();
        if let Some(r) = &self.reference {
            l.push((None, r.label.clone()));
        }
        l
    }

    /// Renders the chart as an SVG document.
    pub fn render(&self) -> String {
        let (left, right, bottom) = (70.0, 20.0, 60.0);
        let n_series = self.series.len().max(1) as f64;
        let bar = if n_series > 3.0 { 16.0 } else { 22.0 };
        let longest = self
            .groups
            .iter()
            .flat_map(|g| g.split(" · "))
            .map(|p| p.chars().count())
            .max()
            .unwrap_or(0) as f64;
        let group_w = (n_series * bar + 20.0).max(longest * 6.5 + 10.0);
        let gap = group_w - n_series * bar;
        let legend = self.legend();
        let entry_w = |text: &str, line: bool| {
            (if line { 30.0 } else { 24.0 }) + 7.0 * text.chars().count() as f64
        };
        let widest_entry = legend
            .iter()
            .map(|(c, t)| entry_w(t, c.is_none()))
            .fold(0.0, f64::max);
        let title_w = 8.5 * self.title.chars().count() as f64;
        let plot_w = (self.groups.len().max(1) as f64 * group_w)
            .max(widest_entry)
            .max(title_w - left)
            .max(300.0);
        // The legend wraps to the plot's width rather than widening the chart.
        let mut placed = Vec::with_capacity(legend.len());
        let (mut x, mut row) = (0.0, 0);
        for (colour, text) in &legend {
            let width = entry_w(text, colour.is_none());
            if x > 0.0 && x + width > plot_w {
                (x, row) = (0.0, row + 1);
            }
            placed.push((left + x, 46.0 + 16.0 * row as f64, *colour, text));
            x += width;
        }
        let top = 76.0 + 16.0 * row as f64;
        let plot_h = 260.0;
        let (w, h) = (left + plot_w + right, top + plot_h + bottom);
        let all = self.drawn();
        let max = all.iter().copied().fold(0.0, f64::max);
        let min = all.iter().copied().fold(f64::INFINITY, f64::min);
        let mut s = String::new();
        writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
        )
        .ok();
        writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#).ok();
        writeln!(
            s,
            r#"<text x="{}" y="18" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
            w / 2.0,
            esc(&self.title)
        )
        .ok();
        let better = match self.better {
            Better::Higher => "higher is better",
            Better::Lower => "lower is better",
        };
        writeln!(
            s,
            r##"<text x="{}" y="36" text-anchor="middle" fill="#444">{}, {better}</text>"##,
            w / 2.0,
            esc(&self.axis_label())
        )
        .ok();
        // Legend.
        for (x, y, colour, text) in placed {
            match colour {
                Some(c) => writeln!(
                    s,
                    r#"<rect x="{x}" y="{y}" width="10" height="10" fill="{c}"/><text x="{}" y="{}">{}</text>"#,
                    x + 14.0,
                    y + 9.0,
                    esc(text)
                ),
                None => writeln!(
                    s,
                    r##"<line x1="{x}" y1="{}" x2="{}" y2="{}" stroke="#222" stroke-width="1.5" stroke-dasharray="5,3"/><text x="{}" y="{}">{}</text>"##,
                    y + 5.0,
                    x + 18.0,
                    y + 5.0,
                    x + 22.0,
                    y + 9.0,
                    esc(text)
                ),
            }
            .ok();
        }
        // Axis and scale.
        let y0 = top + plot_h;
        let scale = if self.log && max > 0.0 {
            let (lo, hi) = log_range(min, max);
            let mut d = lo;
            while d <= hi * 1.0001 {
                let y = y0 - plot_h * (d / lo).log10() / (hi / lo).log10();
                gridline(&mut s, left, left + plot_w, y, &label(d, self.unit));
                d *= 10.0;
            }
            Scale {
                log: true,
                lo,
                hi,
                height: plot_h,
            }
        } else {
            let (top_v, step) = linear_ticks(max.max(1e-9));
            let mut t = 0.0;
            while t <= top_v * 1.0001 {
                gridline(
                    &mut s,
                    left,
                    left + plot_w,
                    y0 - plot_h * t / top_v,
                    &label(t, self.unit),
                );
                t += step;
            }
            Scale {
                log: false,
                lo: 0.0,
                hi: top_v,
                height: plot_h,
            }
        };
        writeln!(
            s,
            r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{}</text>"#,
            top + plot_h / 2.0,
            top + plot_h / 2.0,
            esc(&self.axis_label())
        )
        .ok();
        // Bars and group labels.
        for (g, group) in self.groups.iter().enumerate() {
            let gx = left + g as f64 * group_w + gap / 2.0;
            for (i, b) in self.values.get(g).into_iter().flatten().enumerate() {
                let bx = gx + i as f64 * bar;
                match b {
                    Bar::Value(v) if v.is_finite() && *v > 0.0 => {
                        // At least a pixel: a measured value never vanishes.
                        let bh = scale.height(*v).max(1.0);
                        writeln!(
                            s,
                            r#"<rect x="{bx:.1}" y="{:.1}" width="{bar}" height="{bh:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                            y0 - bh,
                            COLOURS[i % COLOURS.len()],
                            esc(self.series.get(i).map_or("", String::as_str)),
                            self.tooltip(*v)
                        )
                        .ok();
                    }
                    Bar::Label(text) => {
                        // Upright along the slot, from the axis up.
                        let (cx, cy) = (bx + bar / 2.0 + 3.5, y0 - 4.0);
                        writeln!(
                            s,
                            r##"<text x="{cx:.1}" y="{cy:.1}" transform="rotate(-90 {cx:.1} {cy:.1})" font-size="10" fill="#555">{}</text>"##,
                            esc(text)
                        )
                        .ok();
                    }
                    _ => {}
                }
            }
            if let Some(v) = self
                .reference
                .as_ref()
                .and_then(|r| r.values.get(g).copied().flatten())
                .filter(|v| v.is_finite() && *v > 0.0)
            {
                let y = y0 - scale.height(v);
                writeln!(
                    s,
                    r##"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#222" stroke-width="1.5" stroke-dasharray="5,3"><title>{}: {}</title></line>"##,
                    gx - 4.0,
                    gx + n_series * bar + 4.0,
                    esc(self.reference.as_ref().map_or("", |r| r.label.as_str())),
                    self.tooltip(v)
                )
                .ok();
            }
            let cx = gx + n_series * bar / 2.0;
            for (k, part) in group.split(" · ").enumerate() {
                writeln!(
                    s,
                    r#"<text x="{cx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                    y0 + 16.0 + 13.0 * k as f64,
                    esc(part)
                )
                .ok();
            }
        }
        writeln!(
            s,
            r##"<line x1="{left}" y1="{y0}" x2="{}" y2="{y0}" stroke="#333"/>"##,
            left + plot_w
        )
        .ok();
        s.push_str("</svg>\n");
        s
    }

    fn tooltip(&self, v: f64) -> String {
        match self.unit {
            Unit::Count => label(v, Unit::Count),
            Unit::Millis => format!("{} ms", label(v, Unit::Millis)),
        }
    }
}

fn gridline(s: &mut String, x1: f64, x2: f64, y: f64, label: &str) {
    writeln!(
        s,
        r##"<line x1="{x1}" y1="{y:.1}" x2="{x2}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
        x1 - 6.0,
        y + 4.0,
        esc(label)
    )
    .ok();
}

#[cfg(test)]
mod tests;
