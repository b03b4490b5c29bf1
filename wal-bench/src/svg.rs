//! Hand-made SVG charts: grouped bars, linear or logarithmic.

use std::fmt::Write as _;

/// Colours of the series, in order.
const COLOURS: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
];

/// A grouped bar chart.
#[derive(Debug, Clone, Default)]
pub struct BarChart {
    /// Title at the top.
    pub title: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Logarithmic y axis.
    pub log: bool,
    /// One label per group (x axis); ` · ` splits a label over two lines.
    pub groups: Vec<String>,
    /// One name per series (legend).
    pub series: Vec<String>,
    /// `values[group][series]`; `None` draws nothing (not run / not applicable).
    pub values: Vec<Vec<Option<f64>>>,
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

fn tick_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

impl BarChart {
    /// Renders the chart as an SVG document.
    pub fn render(&self) -> String {
        let (left, right, top, bottom) = (70.0, 20.0, 60.0, 60.0);
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
        let legend_w: f64 = self
            .series
            .iter()
            .map(|n| 24.0 + 7.0 * n.chars().count() as f64)
            .sum();
        let title_w = 8.5 * self.title.chars().count() as f64;
        let plot_w = (self.groups.len().max(1) as f64 * group_w)
            .max(legend_w)
            .max(title_w - left)
            .max(300.0);
        let plot_h = 260.0;
        let (w, h) = (left + plot_w + right, top + plot_h + bottom);
        let all: Vec<f64> = self
            .values
            .iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|v| v.is_finite() && *v > 0.0)
            .collect();
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
        // Legend.
        let mut x = left;
        for (i, name) in self.series.iter().enumerate() {
            let c = COLOURS[i % COLOURS.len()];
            writeln!(
                s,
                r#"<rect x="{x}" y="30" width="10" height="10" fill="{c}"/><text x="{}" y="39">{}</text>"#,
                x + 14.0,
                esc(name)
            )
            .ok();
            x += 24.0 + 7.0 * name.chars().count() as f64;
        }
        // Axis and scale.
        let y0 = top + plot_h;
        let scale: Box<dyn Fn(f64) -> f64> = if self.log && max > 0.0 {
            let lo = 10f64.powf(min.log10().floor());
            let hi = 10f64.powf(max.log10().ceil().max(lo.log10() + 1.0));
            let mut d = lo;
            while d <= hi * 1.0001 {
                let y = y0 - plot_h * (d / lo).log10() / (hi / lo).log10();
                gridline(&mut s, left, left + plot_w, y, &tick_label(d));
                d *= 10.0;
            }
            Box::new(move |v: f64| plot_h * ((v / lo).log10() / (hi / lo).log10()).clamp(0.0, 1.0))
        } else {
            let (top_v, step) = linear_ticks(max.max(1e-9));
            let mut t = 0.0;
            while t <= top_v * 1.0001 {
                gridline(
                    &mut s,
                    left,
                    left + plot_w,
                    y0 - plot_h * t / top_v,
                    &tick_label(t),
                );
                t += step;
            }
            Box::new(move |v: f64| plot_h * (v / top_v).clamp(0.0, 1.0))
        };
        writeln!(
            s,
            r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">{}</text>"#,
            top + plot_h / 2.0,
            top + plot_h / 2.0,
            esc(&self.y_label)
        )
        .ok();
        // Bars and group labels.
        for (g, label) in self.groups.iter().enumerate() {
            let gx = left + g as f64 * group_w + gap / 2.0;
            for (i, v) in self.values.get(g).into_iter().flatten().enumerate() {
                let Some(v) = v.filter(|v| v.is_finite() && *v > 0.0) else {
                    continue;
                };
                let bh = scale(v);
                let c = COLOURS[i % COLOURS.len()];
                writeln!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{bar}" height="{bh:.1}" fill="{c}"><title>{}: {}</title></rect>"#,
                    gx + i as f64 * bar,
                    y0 - bh,
                    esc(self.series.get(i).map_or("", String::as_str)),
                    tick_label(v)
                )
                .ok();
            }
            let cx = gx + n_series * bar / 2.0;
            for (k, part) in label.split(" · ").enumerate() {
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
mod tests {
    use super::*;

    fn chart(log: bool) -> BarChart {
        BarChart {
            title: "t <1>".into(),
            y_label: "entries/s".into(),
            log,
            groups: vec!["1 thread".into(), "16 threads · 16 topics".into()],
            series: vec!["wal/std".into(), "walrus-rust".into()],
            values: vec![vec![Some(6600.0), Some(6000.0)], vec![Some(50_000.0), None]],
        }
    }

    #[test]
    fn renders_bars_for_values_only() {
        for log in [false, true] {
            let svg = chart(log).render();
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
            assert_eq!(svg.matches("<title>").count(), 3);
            assert!(svg.contains("t &lt;1&gt;"));
            assert!(svg.contains(">16 topics</text>"));
        }
    }

    #[test]
    fn linear_ticks_are_round() {
        assert_eq!(linear_ticks(48_000.0), (50_000.0, 10_000.0));
        assert_eq!(linear_ticks(7.0), (8.0, 2.0));
        assert_eq!(tick_label(2_500_000.0), "2.5M");
    }
}
