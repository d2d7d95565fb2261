//! Reading Markdown as the checks need it: fenced blocks, headings and their GitHub anchors,
//! link targets and web addresses.

use super::*;

/// A fenced code block.
#[derive(Debug)]
pub(super) struct Block {
    /// The first word of the info string, lower-cased (`""` when there is none).
    pub(super) lang: String,
    /// The line of the opening fence, counted from 1.
    pub(super) line: usize,
    pub(super) text: String,
}

/// A heading, ATX (`## Title`) or setext (a line underlined with `===` or `---`).
#[derive(Debug)]
pub(super) struct Heading {
    pub(super) line: usize,
    pub(super) level: usize,
    pub(super) text: String,
}

/// What the checks need from a page.
#[derive(Debug, Default)]
pub(super) struct Page {
    /// The lines outside fenced blocks, counted from 1, with code spans blanked out so that
    /// what they quote is not taken for links.
    pub(super) prose: Vec<(usize, String)>,
    pub(super) headings: Vec<Heading>,
    pub(super) blocks: Vec<Block>,
}

/// An opening fence: its indentation, character, length and info string.
pub(super) fn fence_open(line: &str) -> Option<(usize, char, usize, &str)> {
    let trimmed = line.trim_start();
    let indent = line.len() - trimmed.len();
    let ch = trimmed.chars().next()?;
    if ch != '`' && ch != '~' {
        return None;
    }
    let len = trimmed.chars().take_while(|c| *c == ch).count();
    let info = trimmed[len * ch.len_utf8()..].trim();
    if len < 3 || (ch == '`' && info.contains('`')) {
        return None;
    }
    Some((indent, ch, len, info))
}

pub(super) fn fence_closes(line: &str, ch: char, len: usize) -> bool {
    let trimmed = line.trim();
    trimmed.chars().count() >= len && trimmed.chars().all(|c| c == ch)
}

pub(super) fn atx_heading(line: &str) -> Option<(usize, String)> {
    let trimmed = line.strip_prefix("   ").or_else(|| line.strip_prefix("  "));
    let trimmed = trimmed.or_else(|| line.strip_prefix(' ')).unwrap_or(line);
    let level = trimmed.chars().take_while(|c| *c == '#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &trimmed[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    // A closing run of `#` after a space is not part of the title (`## C#` keeps its `#`).
    let text = rest.trim();
    let without = text.trim_end_matches('#');
    let text = if without.is_empty() || without.ends_with([' ', '\t']) {
        without.trim_end()
    } else {
        text
    };
    Some((level, text.to_owned()))
}

/// Whether `line` underlines the line before it as a setext heading, and at which level.
pub(super) fn setext_level(line: &str) -> Option<usize> {
    let trimmed = line.trim();
    if trimmed.is_empty() || line.starts_with("    ") {
        return None;
    }
    if trimmed.chars().all(|c| c == '=') {
        Some(1)
    } else if trimmed.chars().all(|c| c == '-') {
        Some(2)
    } else {
        None
    }
}

/// Whether a line can be the text of a setext heading (and not a list item, table row,
/// quote or heading of its own).
pub(super) fn plain_paragraph_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    !trimmed.is_empty()
        && !trimmed.starts_with(['-', '*', '+', '|', '>', '#', '<'])
        && !trimmed
            .split_once(". ")
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// A fenced block being read.
pub(super) struct OpenFence<'a> {
    pub(super) indent: usize,
    pub(super) ch: char,
    pub(super) len: usize,
    pub(super) lang: String,
    pub(super) line: usize,
    pub(super) body: Vec<&'a str>,
}

impl OpenFence<'_> {
    pub(super) fn finish(self) -> Block {
        let text = self.body.join("\n");
        Block {
            lang: self.lang,
            line: self.line,
            text: if text.is_empty() { text } else { text + "\n" },
        }
    }
}

pub(super) fn parse(text: &str) -> Page {
    let mut page = Page::default();
    let mut raw_prose: Vec<(usize, &str)> = Vec::new();
    let mut open: Option<OpenFence> = None;
    let mut previous: Option<(usize, &str)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if let Some(mut fence) = open.take() {
            if fence_closes(line, fence.ch, fence.len) {
                page.blocks.push(fence.finish());
            } else {
                let strip = line.len() - line.trim_start().len();
                fence.body.push(&line[strip.min(fence.indent)..]);
                open = Some(fence);
            }
            continue;
        }
        if let Some((indent, ch, len, info)) = fence_open(line) {
            let lang = info
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .trim_matches(['{', '}', '.'])
                .to_lowercase();
            open = Some(OpenFence {
                indent,
                ch,
                len,
                lang,
                line: number,
                body: Vec::new(),
            });
            previous = None;
            // The fence line ends the paragraph before it, like a blank line.
            raw_prose.push((number, ""));
            continue;
        }
        if let Some((level, title)) = atx_heading(line) {
            page.headings.push(Heading {
                line: number,
                level,
                text: title,
            });
        } else if let (Some(level), Some((prev_number, prev_line))) = (setext_level(line), previous)
        {
            if plain_paragraph_line(prev_line) {
                page.headings.push(Heading {
                    line: prev_number,
                    level,
                    text: prev_line.trim().to_owned(),
                });
            }
        }
        raw_prose.push((number, line));
        previous = Some((number, line));
    }
    if let Some(fence) = open {
        // An unclosed fence runs to the end of the page.
        page.blocks.push(fence.finish());
    }
    page.prose = blank_code_spans_by_paragraph(&raw_prose);
    page
}

/// Blanks out code spans paragraph by paragraph (a span never crosses a blank line), keeping
/// line numbers.
pub(super) fn blank_code_spans_by_paragraph(lines: &[(usize, &str)]) -> Vec<(usize, String)> {
    let mut out = Vec::with_capacity(lines.len());
    let mut paragraph: Vec<(usize, &str)> = Vec::new();
    let flush = |paragraph: &mut Vec<(usize, &str)>, out: &mut Vec<(usize, String)>| {
        if paragraph.is_empty() {
            return;
        }
        let joined: Vec<&str> = paragraph.iter().map(|(_, l)| *l).collect();
        let blanked = blank_code_spans(&joined.join("\n"));
        for ((number, _), line) in paragraph.iter().zip(blanked.split('\n')) {
            out.push((*number, line.to_owned()));
        }
        paragraph.clear();
    };
    for &(number, line) in lines {
        if line.trim().is_empty() {
            flush(&mut paragraph, &mut out);
            out.push((number, String::new()));
        } else {
            paragraph.push((number, line));
        }
    }
    flush(&mut paragraph, &mut out);
    out
}

/// Replaces every code span (a run of backticks, up to the next run of the same length) with
/// spaces, keeping line breaks; a run without a partner stays as it is.
pub(super) fn blank_code_spans(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|c| **c == '`').count();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let n = run_at(i);
        let mut j = i + n;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let m = run_at(j);
                if m == n {
                    close = Some(j);
                    break;
                }
                j += m;
            } else {
                j += 1;
            }
        }
        match close {
            Some(j) => {
                out.extend(
                    chars[i..j + n]
                        .iter()
                        .map(|c| if *c == '\n' { '\n' } else { ' ' }),
                );
                i = j + n;
            }
            None => {
                out.extend(std::iter::repeat_n('`', n));
                i += n;
            }
        }
    }
    out
}

/// The text of a heading as GitHub renders it: code spans lose their backticks, links and
/// images keep only their text.
pub(super) fn rendered_text(heading: &str) -> String {
    let mut out = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let (before, after) = rest.split_at(open);
        out.push_str(before.strip_suffix('!').unwrap_or(before));
        match after.find("](") {
            Some(mid) => {
                let target = &after[mid + 2..];
                match target.find(')') {
                    Some(close) => {
                        out.push_str(&after[1..mid]);
                        rest = &target[close + 1..];
                    }
                    None => {
                        out.push_str(after);
                        rest = "";
                    }
                }
            }
            None => {
                out.push_str(after);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace('`', "")
}

/// GitHub's anchor for a heading: lower case; letters, digits, `-` and `_` kept; each space
/// becomes `-`; everything else dropped.
pub(super) fn slug(heading: &str) -> String {
    rendered_text(heading)
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings in order; a repeated slug gets `-1`, `-2`, ... as on
/// GitHub.
pub(super) fn heading_anchors(page: &Page) -> Vec<String> {
    let mut occurrences: HashMap<String, usize> = HashMap::new();
    let mut anchors = Vec::with_capacity(page.headings.len());
    for heading in &page.headings {
        let base = slug(&heading.text);
        let mut anchor = base.clone();
        while occurrences.contains_key(&anchor) {
            let count = occurrences.entry(base.clone()).or_insert(0);
            *count += 1;
            anchor = format!("{base}-{count}");
        }
        occurrences.insert(anchor.clone(), 0);
        anchors.push(anchor);
    }
    anchors
}

/// The targets of the inline links and images (`[text](target)`, `![alt](target)`) and of
/// the reference definitions (`[name]: target`) on a line whose code spans are blanked out.
pub(super) fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let trimmed = line.trim_start();
    if let Some(definition) = trimmed.strip_prefix('[') {
        if let Some((name, target)) = definition.split_once("]:") {
            if !name.is_empty() && !name.contains(['[', ']']) {
                if let Some(target) = target.split_whitespace().next() {
                    targets.push(target.trim_matches(['<', '>']).to_owned());
                }
            }
        }
    }
    let mut rest = line;
    while let Some(pos) = rest.find("](") {
        let after = &rest[pos + 2..];
        if let Some(inner) = after.strip_prefix('<') {
            let end = inner.find('>').unwrap_or(inner.len());
            targets.push(inner[..end].to_owned());
            rest = &inner[end..];
            continue;
        }
        let mut depth = 0usize;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = i;
                    break;
                }
                ')' => depth -= 1,
                c if c.is_whitespace() => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        targets.push(after[..end].to_owned());
        rest = &after[end..];
    }
    targets
}

/// The host of every `http://` or `https://` address on a line, link or bare (GitHub turns
/// bare addresses into links too).
pub(super) fn web_hosts(line: &str) -> Vec<String> {
    let mut hosts = Vec::new();
    let lower = line.to_lowercase();
    let mut rest = lower.as_str();
    while let Some(pos) = rest.find("http") {
        let after = &rest[pos..];
        let address = after
            .strip_prefix("https://")
            .or_else(|| after.strip_prefix("http://"));
        match address {
            Some(address) => {
                let host: String = address
                    .chars()
                    .take_while(|c| !c.is_whitespace() && !"/:?#<>()[]|\"'`,;".contains(*c))
                    .collect();
                hosts.push(host);
                rest = address;
            }
            None => rest = &after[4..],
        }
    }
    hosts
}

pub(super) fn has_scheme(target: &str) -> bool {
    let scheme: String = target
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c))
        .collect();
    !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && target[scheme.len()..].starts_with(':')
}

pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `target` (a path, as written in a link on `page`) relative to the repository root, or why
/// it cannot be one.
pub(super) fn resolve(page: &Path, target: &str) -> Result<PathBuf, String> {
    let (base, rest) = match target.strip_prefix('/') {
        Some(rest) => (PathBuf::new(), rest),
        None => (
            page.parent().map(Path::to_path_buf).unwrap_or_default(),
            target,
        ),
    };
    let mut parts: Vec<OsString> = base
        .components()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    for component in Path::new(rest).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err("leaves the repository".to_owned());
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("is not a path inside the repository".to_owned());
            }
        }
    }
    Ok(parts.iter().collect())
}
