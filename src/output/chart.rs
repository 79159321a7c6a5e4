//! `viewers.svg`: viewer count over the broadcast (and likes per minute), drawn by hand as a
//! small standalone SVG so it opens in any browser or file manager preview.

use super::facts::{Point, RecordingFacts};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Likes per minute from cumulative like samples.
pub fn likes_per_minute(likes: &[Point]) -> Vec<Point> {
    likes
        .windows(2)
        .filter_map(|w| {
            let dt = w[1].offset_s - w[0].offset_s;
            (dt > 0.0).then(|| Point {
                offset_s: w[1].offset_s,
                value: ((w[1].value - w[0].value) / dt * 60.0).max(0.0),
            })
        })
        .collect()
}

fn polyline(points: &[Point], x: impl Fn(f64) -> f64, y: impl Fn(f64) -> f64) -> String {
    points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.offset_s), y(p.value)))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn svg(facts: &RecordingFacts, width: u32, height: u32) -> String {
    let (w, h) = (width as f64, height as f64);
    let (left, right, top, bottom) = (48.0, 48.0, 24.0, 28.0);
    let end = facts
        .duration_s
        .into_iter()
        .chain(facts.viewers.iter().map(|p| p.offset_s))
        .chain(facts.likes.iter().map(|p| p.offset_s))
        .fold(1.0_f64, f64::max);
    let vmax = facts.peak_viewers().unwrap_or(0.0).max(1.0);
    let lpm = likes_per_minute(&facts.likes);
    let lmax = lpm.iter().map(|p| p.value).fold(1.0_f64, f64::max);
    let x = |t: f64| left + (t / end).clamp(0.0, 1.0) * (w - left - right);
    let yv = |v: f64| top + (1.0 - v / vmax) * (h - top - bottom);
    let yl = |v: f64| top + (1.0 - v / lmax) * (h - top - bottom);
    let title = format!(
        "Viewers of {} — broadcast {}",
        facts.username.as_deref().unwrap_or(&facts.user_id),
        facts.broadcast_id
    );
    let mut s = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="sans-serif" font-size="11">
<title>{title}</title>
<rect width="100%" height="100%" fill="#fff"/>
<line x1="{left}" y1="{b}" x2="{r}" y2="{b}" stroke="#999"/>
<line x1="{left}" y1="{top}" x2="{left}" y2="{b}" stroke="#999"/>
<text x="{left}" y="14" fill="#1f6feb">viewers (max {vmax:.0})</text>
<text x="{rl}" y="14" fill="#d1242f" text-anchor="end">likes/min (max {lmax:.0})</text>
<text x="{left}" y="{bt}" text-anchor="start">0:00</text>
<text x="{r}" y="{bt}" text-anchor="end">{endlabel}</text>
"##,
        title = esc(&title),
        b = h - bottom,
        r = w - right,
        rl = w - right,
        bt = h - 8.0,
        endlabel = super::format_clock(end),
    );
    if !facts.viewers.is_empty() {
        s.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"2\" points=\"{}\"/>\n",
            polyline(&facts.viewers, x, yv)
        ));
    }
    if !lpm.is_empty() {
        s.push_str(&format!(
            "<polyline fill=\"none\" stroke=\"#d1242f\" stroke-width=\"1.5\" stroke-dasharray=\"4 2\" points=\"{}\"/>\n",
            polyline(&lpm, x, yl)
        ));
    }
    if facts.viewers.is_empty() && lpm.is_empty() {
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#666\">no viewer samples</text>\n",
            w / 2.0,
            h / 2.0
        ));
    }
    s.push_str("</svg>\n");
    s
}
