//! The report's charts: line series over the run's seconds, as inline SVG drawn by `plotters`.
//!
//! Owns: the drawing. May not: do IO.

use plotters::prelude::*;

/// Colours of the series, in order.
const PALETTE: [RGBColor; 3] = [
    RGBColor(25, 118, 210),
    RGBColor(239, 108, 0),
    RGBColor(198, 40, 40),
];

/// An SVG chart of `series` (name, points of (seconds since the run's start, value)); a chart
/// with no point says so instead.
pub fn svg(series: &[(&str, Vec<(f64, f64)>)]) -> String {
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x_max, mut y_max) = (1.0_f64, 0.0_f64);
    let mut any = false;
    for (x, y) in points {
        any = true;
        x_max = x_max.max(*x);
        y_max = y_max.max(*y);
    }
    if !any {
        return "<p class=\"empty\">-</p>".into();
    }
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1000, 300)).into_drawing_area();
        let drawn = (|| -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
            chart
                .configure_mesh()
                .x_desc("s")
                .light_line_style(RGBColor(235, 235, 235))
                .draw()?;
            for (i, (name, pts)) in series.iter().enumerate() {
                let colour = PALETTE[i % PALETTE.len()];
                chart
                    .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))?
                    .label(*name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                    });
            }
            if series.len() > 1 {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()?;
            }
            root.present()?;
            Ok(())
        })();
        if drawn.is_err() {
            return "<p class=\"empty\">-</p>".into();
        }
    }
    out
}
