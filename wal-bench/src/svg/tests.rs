use super::*;

fn chart(log: bool) -> BarChart {
    BarChart {
        title: "t <1>".into(),
        y_label: "entries/s".into(),
        log,
        groups: vec!["1 thread".into(), "16 threads · 16 topics".into()],
        series: vec!["wal/std".into(), "walrus-rust".into()],
        values: vec![
            vec![Bar::Value(6600.0), Bar::Value(6000.0)],
            vec![Bar::Value(50_000.0), Bar::Label("n/a".into())],
        ],
        ..BarChart::default()
    }
}

/// (tooltip, height) of every drawn bar.
fn bars(svg: &str) -> Vec<(String, f64)> {
    svg.lines()
        .filter(|l| l.starts_with("<rect x=") && l.contains("<title>"))
        .map(|l| {
            let height = l
                .split("height=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            let title = l
                .split("<title>")
                .nth(1)
                .unwrap()
                .split("</title>")
                .next()
                .unwrap();
            (title.to_owned(), height.parse().unwrap())
        })
        .collect()
}

#[test]
fn renders_bars_for_values_and_says_why_others_are_missing() {
    for log in [false, true] {
        let svg = chart(log).render();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(bars(&svg).len(), 3, "{svg}");
        assert!(svg.contains("t &lt;1&gt;"));
        assert!(svg.contains(">16 topics</text>"));
        assert_eq!(svg.matches(">n/a</text>").count(), 1, "{svg}");
    }
    let mut empty = chart(false);
    empty.values[1][1] = Bar::Empty;
    assert!(!empty.render().contains("n/a"));
}

#[test]
fn says_which_way_is_better_and_when_the_axis_is_log() {
    let linear = chart(false).render();
    assert!(
        linear.contains(">entries/s, higher is better</text>"),
        "{linear}"
    );
    assert!(!linear.contains("log scale"));
    let mut latency = chart(true);
    latency.better = Better::Lower;
    latency.y_label = "latency, ms".into();
    let svg = latency.render();
    assert!(
        svg.contains(">latency, ms (log scale), lower is better</text>"),
        "{svg}"
    );
    // The axis's own label too.
    assert!(svg.contains(">latency, ms (log scale)</text>"), "{svg}");
}

#[test]
fn latency_is_written_in_milliseconds() {
    assert_eq!(label(0.0861, Unit::Millis), "0.0861");
    assert_eq!(label(0.01, Unit::Millis), "0.01");
    assert_eq!(label(0.5, Unit::Millis), "0.5");
    assert_eq!(label(1.0, Unit::Millis), "1");
    assert_eq!(label(12.34, Unit::Millis), "12.3");
    assert_eq!(
        label(1000.0, Unit::Millis),
        "1000",
        "not 1k, let alone 1M µs"
    );
    assert_eq!(label(1534.6, Unit::Millis), "1535");
    assert_eq!(label(0.0, Unit::Millis), "0");
    let svg = BarChart {
        log: true,
        unit: Unit::Millis,
        groups: vec!["okaywal".into()],
        series: vec!["p50".into(), "p99".into()],
        values: vec![vec![Bar::Value(0.12), Bar::Value(1000.0)]],
        ..BarChart::default()
    }
    .render();
    assert_eq!(
        bars(&svg).iter().map(|b| b.0.as_str()).collect::<Vec<_>>(),
        ["p50: 0.12 ms", "p99: 1000 ms"]
    );
    for tick in ["0.1", "1", "10", "100", "1000"] {
        assert!(
            svg.contains(&format!(">{tick}</text>")),
            "no tick {tick}: {svg}"
        );
    }
    assert!(!svg.contains(">1M</text>"));
}

#[test]
fn counts_keep_their_suffixes() {
    assert_eq!(label(1e9, Unit::Count), "1G");
    assert_eq!(label(2_500_000.0, Unit::Count), "2.5M");
    assert_eq!(label(7_140.0, Unit::Count), "7.14k");
    assert_eq!(label(729.0, Unit::Count), "729");
    assert_eq!(label(0.0, Unit::Count), "0");
    assert_eq!(linear_ticks(48_000.0), (50_000.0, 10_000.0));
    assert_eq!(linear_ticks(7.0), (8.0, 2.0));
}

#[test]
fn the_log_floor_leaves_the_smallest_bar_a_real_bar() {
    // A power of ten as the smallest value: a floor at it would draw nothing.
    assert_eq!(log_range(1000.0, 50_000.0), (100.0, 100_000.0));
    // Just above a power of ten: a floor at 1000 would leave 8 % of the height.
    assert_eq!(log_range(1200.0, 9000.0), (100.0, 10_000.0));
    // Comfortably above: the floor stays at the decade below.
    assert_eq!(log_range(5000.0, 40_000.0), (1000.0, 100_000.0));
    for (min, max) in [
        (0.086, 195.0),
        (1.0, 1.0),
        (633_500.0, 7_000_000.0),
        (100.0, 100.0),
        (9.99, 10.01),
        (3.0e-3, 2.0e4),
    ] {
        let (lo, hi) = log_range(min, max);
        let share = |v: f64| (v / lo).log10() / (hi / lo).log10();
        assert!(
            lo <= min && hi >= max && hi >= lo * 10.0,
            "{min} {max}: {lo} {hi}"
        );
        assert!(share(min) >= MIN_BAR_SHARE, "{min} {max}: {lo} {hi}");
        // And no lower than that needs: one decade more would have been enough.
        let higher = lo * 10.0;
        assert!(
            higher > min || (min / higher).log10() / (hi / higher).log10() < MIN_BAR_SHARE,
            "{min} {max}: floor {lo} lower than needed"
        );
    }
    // Drawn: the smallest of these bars is at least a tenth of the 260 px plot.
    let svg = BarChart {
        log: true,
        groups: vec!["a".into()],
        series: vec!["x".into(), "y".into()],
        values: vec![vec![Bar::Value(1000.0), Bar::Value(50_000.0)]],
        ..BarChart::default()
    }
    .render();
    let heights: Vec<f64> = bars(&svg).iter().map(|b| b.1).collect();
    assert!(heights[0] >= 26.0, "{heights:?}");
    assert!(heights[1] > heights[0]);
}

#[test]
fn the_reference_line_is_drawn_and_fits_on_the_axis() {
    let mut c = chart(false);
    c.reference = Some(Reference {
        label: "disk: 7.14k/s".into(),
        values: vec![Some(7140.0), Some(90_000.0)],
    });
    let svg = c.render();
    let lines: Vec<&str> = svg
        .lines()
        .filter(|l| l.contains("stroke-dasharray") && l.contains("<title>"))
        .collect();
    assert_eq!(lines.len(), 2, "one per group: {svg}");
    assert!(lines[0].contains("<title>disk: 7.14k/s: 7.14k</title>"));
    // The legend names it, and the axis reaches it (90k, above every bar).
    assert!(svg.contains(">disk: 7.14k/s</text>"));
    assert!(svg.contains(">100k</text>"), "{svg}");
    // Where a group has no limit, no line.
    c.reference = Some(Reference {
        label: "disk".into(),
        values: vec![None, Some(7140.0)],
    });
    let svg = c.render();
    assert_eq!(
        svg.lines()
            .filter(|l| l.contains("stroke-dasharray") && l.contains("<title>"))
            .count(),
        1
    );
}

#[test]
fn a_long_legend_wraps_instead_of_widening_the_chart() {
    let mut c = chart(false);
    let narrow = c.render();
    c.reference = Some(Reference {
        // Fits in the 300 px plot, not beside the two series.
        label: "disk limit: 1 thread, 7.00k/s".into(),
        values: vec![Some(7000.0), None],
    });
    let wrapped = c.render();
    let width = |svg: &str| -> f64 {
        svg.split("width=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let height = |svg: &str| -> f64 {
        svg.split("height=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(width(&wrapped) < 700.0, "{}", width(&wrapped));
    assert_eq!(
        width(&wrapped),
        width(&narrow),
        "the legend does not widen it"
    );
    assert_eq!(
        height(&wrapped),
        height(&narrow) + 16.0,
        "one more legend row"
    );
}
