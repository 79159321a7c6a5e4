//! Finding the line and dotted key an error is about, from the config text itself: serde
//! reports a byte span, validation a key, and the user wants both as `file:line: key:`.

/// The 1-based line of a byte offset.
pub(super) fn line_of(text: &str, byte: usize) -> usize {
    text.get(..byte.min(text.len()))
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

/// A `[table]` or `[[array]]` header line, as (name, is_array).
fn header(line: &str) -> Option<(&str, bool)> {
    let l = line.trim();
    if let Some(rest) = l.strip_prefix("[[") {
        return rest.split("]]").next().map(|n| (n.trim(), true));
    }
    if let Some(rest) = l.strip_prefix('[') {
        return rest.split(']').next().map(|n| (n.trim(), false));
    }
    None
}

fn key_of(line: &str) -> Option<&str> {
    let l = line.trim();
    if l.starts_with('#') || l.starts_with('[') {
        return None;
    }
    let k = l.split('=').next()?.trim().trim_matches('"');
    (!k.is_empty() && l.contains('=')).then_some(k)
}

/// The dotted key path for a 1-based line, from the headers above it.
pub(super) fn key_path_at(text: &str, line: usize) -> Option<String> {
    let mut section: Option<(String, Option<usize>)> = None;
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    let lines: Vec<&str> = text.lines().collect();
    for l in lines.iter().take(line.saturating_sub(1)) {
        if let Some((name, is_array)) = header(l) {
            let idx = if is_array {
                let c = counts.entry(name.to_string()).or_insert(0);
                *c += 1;
                Some(*c - 1)
            } else {
                None
            };
            section = Some((name.to_string(), idx));
        }
    }
    let this = lines.get(line.checked_sub(1)?)?;
    if let Some((name, _)) = header(this) {
        return Some(name.to_string());
    }
    let key = key_of(this);
    match (section, key) {
        (Some((s, Some(i))), Some(k)) => Some(format!("{s}[{i}].{k}")),
        (Some((s, None)), Some(k)) => Some(format!("{s}.{k}")),
        (None, Some(k)) => Some(k.to_string()),
        (Some((s, Some(i))), None) => Some(format!("{s}[{i}]")),
        (Some((s, None)), None) => Some(s),
        (None, None) => None,
    }
}

/// The 1-based line where `key` is set inside `section` (the `index`-th one for array tables),
/// falling back to the section's header line.
pub(super) fn locate(text: &str, section: &str, key: &str, index: Option<usize>) -> Option<usize> {
    let mut in_section = section.is_empty();
    let mut header_line = None;
    let mut seen = 0usize;
    for (n, l) in text.lines().enumerate() {
        if let Some((name, is_array)) = header(l) {
            in_section = false;
            if name == section {
                if is_array {
                    seen += 1;
                    in_section = Some(seen - 1) == index;
                } else {
                    in_section = true;
                }
                if in_section {
                    header_line = Some(n + 1);
                }
            }
            continue;
        }
        if in_section && key_of(l) == Some(key) {
            return Some(n + 1);
        }
    }
    header_line
}
