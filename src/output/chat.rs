//! The chat as files: JSONL for scripts, WebVTT (and SRT) so any player shows it as subtitles.
//! Comment text is untrusted: control characters are dropped, line breaks flattened (a blank
//! line would end a cue) and markup escaped (a comment is data, never markup — `-->` included).

use crate::store::query::CommentExport;

/// How long each chat cue stays on screen.
const CUE_SECONDS: f64 = 5.0;

pub fn jsonl(comments: &[CommentExport]) -> String {
    let mut out = String::new();
    for c in comments {
        if let Ok(line) = serde_json::to_string(c) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// Text safe for a subtitle cue: one line, no control characters.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

/// WebVTT cue text escaping (`&`, `<`, `>`), which also defuses `-->` inside a cue.
pub fn escape_vtt(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in one_line(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn timestamp(secs: f64, comma: bool) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    let (h, m, s, f) = (
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000,
    );
    if comma {
        format!("{h:02}:{m:02}:{s:02},{f:03}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{f:03}")
    }
}

fn speaker(c: &CommentExport) -> String {
    one_line(
        c.username
            .as_deref()
            .or(c.user_id.as_deref())
            .unwrap_or("unknown"),
    )
}

/// One cue per comment at its offset into the video.
pub fn webvtt(comments: &[CommentExport]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for (i, c) in comments.iter().enumerate() {
        let start = c.offset_s.unwrap_or(0.0);
        out.push_str(&format!(
            "{}\n{} --> {}\n<v {}>{}\n\n",
            i + 1,
            timestamp(start, false),
            timestamp(start + CUE_SECONDS, false),
            escape_vtt(&speaker(c)).replace('>', "&gt;"),
            escape_vtt(&c.text)
        ));
    }
    out
}

/// SubRip: same cues, no markup (players render SRT tags, so `<` and `>` are escaped too).
pub fn srt(comments: &[CommentExport]) -> String {
    let mut out = String::new();
    for (i, c) in comments.iter().enumerate() {
        let start = c.offset_s.unwrap_or(0.0);
        out.push_str(&format!(
            "{}\n{} --> {}\n{}: {}\n\n",
            i + 1,
            timestamp(start, true),
            timestamp(start + CUE_SECONDS, true),
            escape_vtt(&speaker(c)),
            escape_vtt(&c.text)
        ));
    }
    out
}

/// CSV with RFC 4180 quoting.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str, user: &str, off: f64) -> CommentExport {
        CommentExport {
            pk: "1".into(),
            user_id: Some("2".into()),
            username: Some(user.into()),
            text: text.into(),
            created_at: 0.0,
            offset_s: Some(off),
        }
    }

    #[test]
    fn hostile_text_cannot_break_a_cue() {
        let v = webvtt(&[c("a --> b\n\nNOTE <script>x</script>\0", "-->evil", 61.5)]);
        let body = v.split("\n\n").nth(1).expect("cue");
        assert_eq!(body.lines().count(), 3, "{v}");
        assert!(body.contains("00:01:01.500 --> 00:01:06.500"));
        assert!(!body.lines().nth(2).expect("text").contains("-->"));
        assert!(!v.contains("<script>") && !v.contains('\0'));
    }

    #[test]
    fn srt_and_csv() {
        let s = srt(&[c("hi", "bob", 3723.004)]);
        assert!(
            s.starts_with("1\n01:02:03,004 --> 01:02:08,004\nbob: hi\n"),
            "{s}"
        );
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
