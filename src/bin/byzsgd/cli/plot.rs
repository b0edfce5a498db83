//! Line plots as PNG, with no font or system dependency: a 5x7 bitmap font for the title, the
//! legend and the axis ticks, lines drawn pixel by pixel, written with the `png` crate.

use std::path::Path;

use anyhow::{Context, Result};

/// One line of a plot.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its legend.
    pub name: &'static str,
    /// `(x, y)` points, in x order.
    pub points: Vec<(f64, f64)>,
}

const W: usize = 720;
const H: usize = 420;
const LEFT: usize = 80;
const RIGHT: usize = 20;
const TOP: usize = 40;
const BOTTOM: usize = 50;
const COLORS: [[u8; 3]; 4] = [[31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14]];

/// 5x7 glyphs: seven rows of five bits, top row first.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_lowercase() {
        '0' => [14, 17, 19, 21, 25, 17, 14],
        '1' => [4, 12, 4, 4, 4, 4, 14],
        '2' => [14, 17, 1, 2, 4, 8, 31],
        '3' => [31, 2, 4, 2, 1, 17, 14],
        '4' => [2, 6, 10, 18, 31, 2, 2],
        '5' => [31, 16, 30, 1, 1, 17, 14],
        '6' => [6, 8, 16, 30, 17, 17, 14],
        '7' => [31, 1, 2, 4, 8, 8, 8],
        '8' => [14, 17, 17, 14, 17, 17, 14],
        '9' => [14, 17, 17, 15, 1, 2, 12],
        '.' => [0, 0, 0, 0, 0, 12, 12],
        '-' => [0, 0, 0, 31, 0, 0, 0],
        '+' => [0, 4, 4, 31, 4, 4, 0],
        '%' => [24, 25, 2, 4, 8, 19, 3],
        ':' => [0, 12, 12, 0, 12, 12, 0],
        '(' => [2, 4, 8, 8, 8, 4, 2],
        ')' => [8, 4, 2, 2, 2, 4, 8],
        'a' => [0, 0, 14, 1, 15, 17, 15],
        'b' => [16, 16, 22, 25, 17, 17, 30],
        'c' => [0, 0, 14, 16, 16, 17, 14],
        'd' => [1, 1, 13, 19, 17, 17, 15],
        'e' => [0, 0, 14, 17, 31, 16, 14],
        'f' => [6, 9, 8, 28, 8, 8, 8],
        'g' => [0, 15, 17, 17, 15, 1, 14],
        'h' => [16, 16, 22, 25, 17, 17, 17],
        'i' => [4, 0, 12, 4, 4, 4, 14],
        'j' => [2, 0, 6, 2, 2, 18, 12],
        'k' => [16, 16, 18, 20, 24, 20, 18],
        'l' => [12, 4, 4, 4, 4, 4, 14],
        'm' => [0, 0, 26, 21, 21, 17, 17],
        'n' => [0, 0, 22, 25, 17, 17, 17],
        'o' => [0, 0, 14, 17, 17, 17, 14],
        'p' => [0, 0, 30, 17, 30, 16, 16],
        'q' => [0, 0, 13, 19, 15, 1, 1],
        'r' => [0, 0, 22, 25, 16, 16, 16],
        's' => [0, 0, 14, 16, 14, 1, 30],
        't' => [8, 8, 28, 8, 8, 9, 6],
        'u' => [0, 0, 17, 17, 17, 19, 13],
        'v' => [0, 0, 17, 17, 17, 10, 4],
        'w' => [0, 0, 17, 17, 21, 21, 10],
        'x' => [0, 0, 17, 10, 4, 10, 17],
        'y' => [0, 0, 17, 17, 15, 1, 14],
        'z' => [0, 0, 31, 2, 4, 8, 31],
        _ => [0; 7],
    }
}

struct Canvas {
    px: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Self {
            px: vec![255; W * H * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if (0..W as i64).contains(&x) && (0..H as i64).contains(&y) {
            let i = (y as usize * W + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&c);
        }
    }

    fn text(&mut self, x: i64, y: i64, s: &str, c: [u8; 3]) {
        for (k, ch) in s.chars().enumerate() {
            let g = glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..5 {
                    if bits & (16 >> col) != 0 {
                        self.set(x + k as i64 * 6 + col, y + row as i64, c);
                    }
                }
            }
        }
    }

    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: [u8; 3]) {
        let n = (x1 - x0).abs().max((y1 - y0).abs()).ceil().max(1.0) as usize;
        for i in 0..=n {
            let t = i as f64 / n as f64;
            let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
            self.set(x.round() as i64, y.round() as i64, c);
            self.set(x.round() as i64, y.round() as i64 + 1, c);
        }
    }
}

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-2 {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Draws `series` against step and writes a PNG to `path`. Empty series draw empty axes.
pub fn line_plot(path: &Path, title: &str, series: &[Series]) -> Result<()> {
    let mut c = Canvas::new();
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    y0 = y0.min(0.0);
    if y1 <= y0 {
        y1 = y0 + 1.0;
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let (pw, ph) = ((W - LEFT - RIGHT) as f64, (H - TOP - BOTTOM) as f64);
    let sx = |x: f64| LEFT as f64 + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| TOP as f64 + ph - (y - y0) / (y1 - y0) * ph;
    let grey = [200, 200, 200];
    let black = [0, 0, 0];
    for i in 0..=4 {
        let y = y0 + (y1 - y0) * i as f64 / 4.0;
        c.line((sx(x0), sy(y)), (sx(x1), sy(y)), grey);
        let l = label(y);
        c.text(
            LEFT as i64 - 8 - 6 * l.len() as i64,
            sy(y) as i64 - 3,
            &l,
            black,
        );
        let x = x0 + (x1 - x0) * i as f64 / 4.0;
        let l = label(x.round());
        c.text(
            sx(x) as i64 - 3 * l.len() as i64,
            (H - BOTTOM + 10) as i64,
            &l,
            black,
        );
    }
    c.line((sx(x0), sy(y0)), (sx(x0), sy(y1)), black);
    c.line((sx(x0), sy(y0)), (sx(x1), sy(y0)), black);
    c.text(LEFT as i64, 14, title, black);
    c.text((W / 2) as i64 - 12, (H - 20) as i64, "step", black);
    let mut lx = (W - RIGHT) as i64 - 10;
    for (k, s) in series.iter().enumerate().rev() {
        let color = COLORS[k % COLORS.len()];
        lx -= 6 * s.name.len() as i64 + 24;
        for d in 0..12 {
            c.set(lx + d, 17, color);
            c.set(lx + d, 18, color);
        }
        c.text(lx + 16, 14, s.name, black);
        let mut prev: Option<(f64, f64)> = None;
        for &(x, y) in s.points.iter().filter(|p| p.1.is_finite()) {
            let p = (sx(x), sy(y));
            match prev {
                Some(q) => c.line(q, p, color),
                None => c.set(p.0 as i64, p.1 as i64, color),
            }
            prev = Some(p);
        }
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), W as u32, H as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    w.write_image_data(&c.px)?;
    w.finish()?;
    Ok(())
}
