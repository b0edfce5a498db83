//! Charts through `plotters`: line charts (several series, a legend, nice ticks, a log axis where
//! values span decades) and heat maps, each written as SVG and as PNG. Text is drawn with the
//! DejaVu Sans font embedded in the binary (`ab_glyph`), so no system font is needed; the PNG is
//! encoded with the `png` crate from plotters' RGB buffer.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its legend.
    pub name: String,
    /// `(x, y)` points, in x order; non-finite ones are left out.
    pub points: Vec<(f64, f64)>,
}

/// What a line chart shows besides its series.
#[derive(Debug, Clone, Copy)]
pub struct Chart<'a> {
    /// The title.
    pub title: &'a str,
    /// The x axis.
    pub x: &'a str,
    /// The y axis.
    pub y: &'a str,
    /// A logarithmic y axis (non-positive values are left out); [`Chart::log_if_decades`] picks.
    pub log_y: bool,
    /// The legend in the lower right corner (for rising curves) instead of the upper right.
    pub legend_low: bool,
}

impl<'a> Chart<'a> {
    /// A chart with a linear y axis.
    pub fn new(title: &'a str, x: &'a str, y: &'a str) -> Self {
        Self {
            title,
            x,
            y,
            log_y: false,
            legend_low: false,
        }
    }

    /// The legend in the lower right corner, out of the way of curves that rise.
    pub fn legend_low(mut self) -> Self {
        self.legend_low = true;
        self
    }

    /// A logarithmic y axis when the positive values of `series` span more than two decades.
    pub fn log_if_decades(mut self, series: &[Series]) -> Self {
        let ys = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .filter(|y| y.is_finite() && *y > 0.0);
        let (lo, hi) = ys.fold((f64::MAX, 0.0f64), |(l, h), y| (l.min(y), h.max(y)));
        self.log_y = hi > 0.0 && hi / lo > 100.0;
        self
    }
}

const W: u32 = 900;
const H: u32 = 520;
const FONT: &str = "sans-serif";

/// Registers the embedded font once; plotters draws every text with it.
fn font() -> Result<()> {
    // The outcome is kept: every call, not only the first, learns that the font did not load.
    static LOADED: OnceLock<bool> = OnceLock::new();
    let loaded = *LOADED
        .get_or_init(|| register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if !loaded {
        return Err(anyhow!("the embedded DejaVu Sans font did not load"));
    }
    Ok(())
}

fn colour(k: usize) -> RGBColor {
    const C: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (214, 39, 40),
        (44, 160, 44),
        (255, 127, 14),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = C[k % C.len()];
    RGBColor(r, g, b)
}

/// `stem` with `ext` as its extension (`accuracy` -> `accuracy.svg`).
fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    stem.with_extension(ext)
}

/// Draws the same chart with `svg` into `stem.svg` and with `png` into `stem.png`.
fn both(
    stem: &Path,
    svg_draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
    png_draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<()> {
    font()?;
    let svg = with_ext(stem, "svg");
    {
        let area = SVGBackend::new(&svg, (W, H)).into_drawing_area();
        svg_draw(&area)?;
        area.present()
            .map_err(|e| anyhow!("writing {}: {e}", svg.display()))?;
    }
    let mut rgb = vec![0u8; (W * H * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut rgb, (W, H)).into_drawing_area();
        png_draw(&area)?;
        area.present().map_err(|e| anyhow!("drawing a PNG: {e}"))?;
    }
    let png = with_ext(stem, "png");
    let file =
        std::fs::File::create(&png).with_context(|| format!("creating {}", png.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), W, H);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.write_header()
        .and_then(|mut w| w.write_image_data(&rgb))
        .with_context(|| format!("writing {}", png.display()))
}

/// The range of `v` widened a little (and made non-empty).
fn span(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = v.fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(x), h.max(x)));
    if lo > hi {
        return (0.0, 1.0);
    }
    if lo == hi {
        return (lo - 0.5, hi + 0.5);
    }
    (lo, hi)
}

/// A tick's label: no decimals on an axis that spans more than 20 (steps, seconds, percent).
fn tick(v: f64, span: f64) -> String {
    if span > 20.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// A line chart of `series`, as `stem.svg` and `stem.png`.
pub fn line_chart(stem: &Path, chart: Chart<'_>, series: &[Series]) -> Result<()> {
    let keep = |p: &&(f64, f64)| p.0.is_finite() && p.1.is_finite() && (!chart.log_y || p.1 > 0.0);
    let pts = || series.iter().flat_map(|s| s.points.iter().filter(keep));
    let (x0, x1) = span(pts().map(|p| p.0));
    let (y0, y1) = span(pts().map(|p| p.1));
    macro_rules! draw {
        ($area:expr, $y:expr) => {{
            let area = $area;
            area.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
            let mut c = ChartBuilder::on(area)
                .caption(chart.title, (FONT, 22))
                .margin(12)
                .x_label_area_size(44)
                .y_label_area_size(72)
                .build_cartesian_2d(x0..x1, $y)
                .map_err(|e| anyhow!("{e}"))?;
            c.configure_mesh()
                .x_label_formatter(&|x| tick(*x, x1 - x0))
                .x_desc(chart.x)
                .y_desc(chart.y)
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 16))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(|e| anyhow!("{e}"))?;
            for (k, s) in series.iter().enumerate() {
                let style = colour(k).stroke_width(2);
                c.draw_series(LineSeries::new(
                    s.points.iter().filter(keep).copied(),
                    style,
                ))
                .map_err(|e| anyhow!("{e}"))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour(k).stroke_width(2))
                });
            }
            if series.iter().any(|s| !s.name.is_empty()) {
                c.configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font((FONT, 14))
                    .position(if chart.legend_low {
                        SeriesLabelPosition::LowerRight
                    } else {
                        SeriesLabelPosition::UpperRight
                    })
                    .draw()
                    .map_err(|e| anyhow!("{e}"))?;
            }
            Ok(())
        }};
    }
    if chart.log_y {
        both(
            stem,
            |a| draw!(a, (y0..y1).log_scale()),
            |a| draw!(a, (y0..y1).log_scale()),
        )
    } else {
        let pad = (y1 - y0) * 0.04;
        let y = (y0 - pad)..(y1 + pad);
        both(stem, |a| draw!(a, y.clone()), |a| draw!(a, y.clone()))
    }
}

/// A heat map: `cells[r][c]` of row `rows[r]` and column `cols[c]`, a value in `[0, 1]` coloured
/// from red (0) through yellow to green (1) (grey where NaN: not run) and the cell's text.
pub fn heat_map(
    stem: &Path,
    title: &str,
    rows: &[String],
    cols: &[String],
    cells: &[Vec<(f64, String)>],
) -> Result<()> {
    let (nr, nc) = (rows.len() as f64, cols.len() as f64);
    let centre = |size: u32| {
        (FONT, size)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center))
    };
    macro_rules! draw {
        ($area:expr) => {{
            let area = $area;
            area.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
            let c = ChartBuilder::on(area)
                .caption(title, (FONT, 22))
                .margin(12)
                .margin_left(170)
                .margin_bottom(40)
                .build_cartesian_2d(0.0..nc, 0.0..nr)
                .map_err(|e| anyhow!("{e}"))?;
            let at = |x: f64, y: f64| c.backend_coord(&(x, y));
            for (r, line) in cells.iter().enumerate() {
                // Row 0 on top.
                let y = nr - 1.0 - r as f64;
                for (col, (v, text)) in line.iter().enumerate() {
                    let x = col as f64;
                    let fill = if v.is_nan() {
                        RGBColor(220, 220, 220)
                    } else {
                        let (r, g, b) = HSLColor(v.clamp(0.0, 1.0) / 3.0, 0.65, 0.55).rgb();
                        RGBColor(r, g, b)
                    };
                    area.draw(&Rectangle::new(
                        [at(x, y + 1.0), at(x + 1.0, y)],
                        fill.filled(),
                    ))
                    .map_err(|e| anyhow!("{e}"))?;
                    area.draw(&Rectangle::new(
                        [at(x, y + 1.0), at(x + 1.0, y)],
                        WHITE.stroke_width(2),
                    ))
                    .map_err(|e| anyhow!("{e}"))?;
                    area.draw(&Text::new(text.clone(), at(x + 0.5, y + 0.5), centre(15)))
                        .map_err(|e| anyhow!("{e}"))?;
                }
                let (px, py) = at(0.0, y + 0.5);
                let label = rows.get(r).cloned().unwrap_or_default();
                area.draw(&Text::new(
                    label,
                    (px - 8, py),
                    (FONT, 14)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Right, VPos::Center)),
                ))
                .map_err(|e| anyhow!("{e}"))?;
            }
            for (col, name) in cols.iter().enumerate() {
                let (px, py) = at(col as f64 + 0.5, 0.0);
                area.draw(&Text::new(name.clone(), (px, py + 14), centre(14)))
                    .map_err(|e| anyhow!("{e}"))?;
            }
            Ok(())
        }};
    }
    both(stem, |a| draw!(a), |a| draw!(a))
}
