//! `index.html`: a self-contained replay page (no network, no build step, works from
//! `file://`): the video with the chat scrolling in sync beside it, the viewer chart with a
//! cursor at the current time, and the broadcast's facts. Comments are embedded as JSON and
//! rendered with `textContent`, so a comment is data, never markup.

use super::facts::RecordingFacts;

/// HTML text escaping for element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside a `<script>` element: no `<`, `>`, `&` or line separators survive as-is.
pub fn script_json(v: &serde_json::Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The chart's width in pixels: the SVG, the page's style and the cursor script agree on it.
const CHART_W: u32 = 720;

/// The page, section by section in document order.
pub fn html(f: &RecordingFacts) -> String {
    let who = f.username.as_deref().unwrap_or(&f.user_id);
    let title = esc(&format!(
        "{who} — live {}",
        f.published_time
            .map(super::facts::rfc3339)
            .unwrap_or_default()
    ));
    let mut page = head(&title);
    page.push_str(&heading(f, &title));
    page.push_str(PLAYER);
    page.push_str(&chart(f));
    page.push_str(&facts(f, who));
    page.push_str(&embedded_data(f));
    page.push_str(SCRIPT);
    page.push_str("</body>\n</html>\n");
    page
}

/// `<head>`: a content policy that loads nothing from the network, and the layout.
fn head(title: &str) -> String {
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; media-src 'self' file:; img-src 'self' file: data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; color: #1f2328; background: #f6f8fa; }}
h1 {{ font-size: 20px; margin: 0 0 12px; }}
main {{ display: grid; grid-template-columns: minmax(0, 1fr) 340px; gap: 16px; align-items: start; }}
@media (max-width: 800px) {{ main {{ grid-template-columns: 1fr; }} }}
video {{ width: 100%; max-height: 70vh; background: #000; border-radius: 8px; }}
#chat {{ height: 70vh; overflow-y: auto; box-sizing: border-box; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; margin: 0; padding: 8px; list-style: none; }}
#chat li {{ padding: 3px 0; border-bottom: 1px solid #eee; overflow-wrap: anywhere; }}
#chat li[hidden] {{ display: none; }}
#chat .t {{ color: #57606a; font-size: 11px; margin-right: 4px; }}
#chat .u {{ font-weight: 600; margin-right: 4px; }}
#chart {{ position: relative; width: {CHART_W}px; max-width: 100%; margin-top: 12px; }}
#cursor {{ position: absolute; top: 24px; bottom: 28px; width: 2px; background: #2da44e; left: 48px; }}
table {{ border-collapse: collapse; margin-top: 12px; background: #fff; }}
.note {{ background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 12px; }}
th, td {{ text-align: left; padding: 4px 10px; border: 1px solid #d0d7de; }}
</style>
</head>
"##
    )
}

/// The title, and a note in place of the video when there is none.
fn heading(f: &RecordingFacts, title: &str) -> String {
    let no_video = if f.video.is_some() {
        String::new()
    } else {
        format!(
            "<p class=\"note\">No video in this folder ({}). The chat, chart and facts below are complete; <code>iglive finalize {}</code> retries the mux.</p>",
            esc(f.error.as_deref().unwrap_or("the recording did not finish")),
            esc(&f.broadcast_id)
        )
    };
    format!(
        "<body data-has-video=\"{}\">\n<h1>{title}</h1>\n{no_video}\n",
        f.video.is_some()
    )
}

/// The video with its chat list beside it; the script fills the list and keeps it in sync.
const PLAYER: &str = r#"<main>
<video id="video" src="video.mp4" poster="cover.jpg" controls preload="metadata">
<track kind="subtitles" src="chat.vtt" srclang="und" label="Chat">
</video>
<ol id="chat" aria-label="Chat"></ol>
</main>
"#;

/// The viewer chart, with a cursor the script moves to the current time.
fn chart(f: &RecordingFacts) -> String {
    let svg = super::chart::svg(f, CHART_W, 200);
    let end = f
        .duration_s
        .into_iter()
        .chain(f.viewers.iter().map(|p| p.offset_s))
        .chain(f.likes.iter().map(|p| p.offset_s))
        .fold(1.0_f64, f64::max);
    format!(
        "<div id=\"chart\" data-end=\"{end}\" data-left=\"48\" data-right=\"48\" data-width=\"{CHART_W}\">{}<div id=\"cursor\"></div></div>\n",
        svg.trim_start_matches(|c| c != '<')
    )
}

/// The broadcast's facts as a table, and where the raw ones are.
fn facts(f: &RecordingFacts, who: &str) -> String {
    let row = |k: &str, v: String| format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    let opt = |v: Option<String>| v.unwrap_or_else(|| "–".into());
    let mut table = String::new();
    table.push_str(&row("Account", format!("{who} ({})", f.user_id)));
    table.push_str(&row("Full name", opt(f.full_name.clone())));
    table.push_str(&row("Broadcast", f.broadcast_id.clone()));
    table.push_str(&row(
        "Started",
        opt(f.published_time.map(super::facts::rfc3339)),
    ));
    table.push_str(&row("Ended", opt(f.ended_at.map(super::facts::rfc3339))));
    table.push_str(&row("Duration", opt(f.duration_s.map(super::format_clock))));
    table.push_str(&row(
        "Final status",
        format!(
            "{} ({})",
            opt(f.final_status.clone()),
            opt(f.end_reason.clone())
        ),
    ));
    table.push_str(&row(
        "Segments",
        format!(
            "{} captured, {} missing of {} expected",
            f.segments_captured, f.segments_missing, f.segments_expected
        ),
    ));
    table.push_str(&row("Comments", f.comments.len().to_string()));
    table.push_str(&row(
        "Peak viewers",
        opt(f.peak_viewers().map(|v| format!("{v:.0}"))),
    ));
    table.push_str(&row("Likes", opt(f.total_likes().map(|v| v.to_string()))));
    if f.cut_by_shutdown {
        table.push_str(&row("Note", "cut short by a shutdown of iglive".into()));
    }
    if let Some(e) = &f.error {
        table.push_str(&row("Error", e.clone()));
    }
    format!(
        "<table>{table}</table>\n<p><small>Recorded by iglive {}. Raw facts: broadcast.json, comments.jsonl, chat.vtt.</small></p>\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The comments and the facts as JSON for the script (data, never markup).
fn embedded_data(f: &RecordingFacts) -> String {
    let comments: Vec<serde_json::Value> = f
        .comments
        .iter()
        .map(|c| {
            serde_json::json!({
                "o": c.offset_s.unwrap_or(0.0),
                "u": c.username.as_deref().or(c.user_id.as_deref()).unwrap_or("unknown"),
                "t": c.text,
            })
        })
        .collect();
    format!(
        "<script type=\"application/json\" id=\"chat-data\">{}</script>\n<script type=\"application/json\" id=\"facts\">{}</script>\n",
        script_json(&serde_json::Value::Array(comments)),
        script_json(&f.broadcast_json())
    )
}

/// Shows the comments up to the video's current time (or `#t=`), and moves the chart cursor.
const SCRIPT: &str = r#"<script>
(function () {
  var comments = JSON.parse(document.getElementById('chat-data').textContent) || [];
  var list = document.getElementById('chat');
  var video = document.getElementById('video');
  var items = [];
  function clock(s) {
    s = Math.max(0, Math.floor(s));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, x = s % 60;
    return (h ? h + ':' + (m < 10 ? '0' : '') : '') + m + ':' + (x < 10 ? '0' : '') + x;
  }
  comments.forEach(function (c) {
    var li = document.createElement('li');
    var t = document.createElement('span'); t.className = 't'; t.textContent = clock(c.o);
    var u = document.createElement('span'); u.className = 'u'; u.textContent = c.u;
    var x = document.createElement('span'); x.className = 'x'; x.textContent = c.t;
    li.appendChild(t); li.appendChild(u); li.appendChild(x);
    li.hidden = true;
    list.appendChild(li);
    items.push({ o: c.o, li: li });
  });
  var chart = document.getElementById('chart');
  var cursor = document.getElementById('cursor');
  var end = parseFloat(chart.dataset.end) || 1;
  var shown = -1;
  // `index.html#t=90` opens the replay at 1:30 (links, scripts and the browser test use it).
  // Until the video has loaded (or when it cannot be played) the chat follows that time.
  var target = null;
  var m = /(?:^#|&)t=([0-9]+(?:\.[0-9]+)?)/.exec(location.hash);
  if (m) target = parseFloat(m[1]);
  function seekToTarget() {
    if (target !== null && video.readyState >= 1) {
      video.currentTime = Math.min(target, video.duration || target);
      target = null;
    }
  }
  function update() {
    // Without a video (a failed recording) the whole chat is shown.
    var now = target !== null ? target
      : (document.body.dataset.hasVideo === 'true' ? (video.currentTime || 0) : Infinity);
    var last = -1;
    for (var i = 0; i < items.length; i++) {
      var visible = items[i].o <= now;
      if (items[i].li.hidden === visible) items[i].li.hidden = !visible;
      if (visible) last = i;
    }
    if (last !== shown) {
      shown = last;
      // The newest shown comment at the bottom, like the live chat.
      list.scrollTop = list.scrollHeight - list.clientHeight;
    }
    var w = chart.clientWidth || parseFloat(chart.dataset.width);
    var scale = w / parseFloat(chart.dataset.width);
    var left = parseFloat(chart.dataset.left) * scale;
    var right = parseFloat(chart.dataset.right) * scale;
    cursor.style.left = (left + Math.min(1, now / end) * (w - left - right)) + 'px';
    document.body.dataset.shownComments = String(last + 1);
    document.body.dataset.currentTime = String(now);
    document.body.dataset.videoReady = String(video.readyState >= 1);
  }
  video.addEventListener('timeupdate', update);
  video.addEventListener('seeked', update);
  video.addEventListener('loadedmetadata', function () { seekToTarget(); update(); });
  window.addEventListener('hashchange', function () {
    var m = /(?:^#|&)t=([0-9]+(?:\.[0-9]+)?)/.exec(location.hash);
    if (m) { target = parseFloat(m[1]); seekToTarget(); update(); }
  });
  seekToTarget();
  update();
})();
</script>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_facts_stay_text() {
        let f = RecordingFacts {
            broadcast_id: "1<b>".into(),
            user_id: "2".into(),
            username: Some("<script>alert(1)</script>".into()),
            full_name: Some("\"><img src=x>".into()),
            error: Some("</p><script>x</script>".into()),
            comments: vec![crate::store::query::CommentExport {
                pk: "1".into(),
                user_id: None,
                username: Some("</script>".into()),
                text: "<!-- <script>".into(),
                created_at: 0.0,
                offset_s: Some(1.0),
            }],
            ..Default::default()
        };
        let h = html(&f);
        assert_eq!(h.matches("<script").count(), 3, "only the page's scripts");
        assert!(!h.contains("<img") && !h.contains("<b>") && !h.contains("<!--"));
        assert!(h.contains("data-has-video=\"false\"") && h.contains("No video"));
    }

    #[test]
    fn script_json_cannot_close_the_script() {
        let v = serde_json::json!({"t": "</script><script>alert(1)</script> & \u{2028}"});
        let s = script_json(&v);
        assert!(!s.contains("</script>") && !s.contains('<') && !s.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&s).expect("still JSON");
        assert_eq!(back, v);
    }
}
