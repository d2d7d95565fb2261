//! The documentation as a reader meets it: README.md, ARCHITECTURE.md, BENCHMARKS.md and every
//! page in docs/ link only to files and headings that exist, and their shell, TOML and JSON
//! examples parse. The README stays short and opens with a table of contents, and the code
//! table in docs/api.md lists every code the server has. Each check is also run against a small
//! repository with known mistakes, so a checker that stopped finding them fails too.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use confab::Code;

/// Hosts an absolute link may name: a server on the reader's own machine. No link is fetched;
/// links to anywhere else are refused, since the tests run without a network and a page should
/// not send its readers off to places nobody checks.
const ALLOWED_HOSTS: &[&str] = &["127.0.0.1", "localhost"];

/// The README is the newcomer's path; reference material belongs in docs/.
const README_MAX_LINES: usize = 320;

/// Fence languages whose blocks must pass `bash -n`.
const SHELL_LANGUAGES: &[&str] = &["sh", "bash", "shell", "console"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The pages checked, relative to `root`: the three top-level documents and docs/*.md.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md", "BENCHMARKS.md"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "md"))
                .filter_map(|path| path.strip_prefix(root).ok().map(Path::to_path_buf))
                .collect()
        })
        .unwrap_or_default();
    docs.sort();
    pages.extend(docs);
    pages
}

// ---------------------------------------------------------------------------------------------
// Reading Markdown

/// A fenced code block.
#[derive(Debug)]
struct Block {
    /// The first word of the info string, lower-cased (`""` when there is none).
    lang: String,
    /// The line of the opening fence, counted from 1.
    line: usize,
    text: String,
}

/// A heading, ATX (`## Title`) or setext (a line underlined with `===` or `---`).
#[derive(Debug)]
struct Heading {
    line: usize,
    level: usize,
    text: String,
}

/// What the checks need from a page.
#[derive(Debug, Default)]
struct Page {
    /// The lines outside fenced blocks, counted from 1, with code spans blanked out so that
    /// what they quote is not taken for links.
    prose: Vec<(usize, String)>,
    headings: Vec<Heading>,
    blocks: Vec<Block>,
}

/// An opening fence: its indentation, character, length and info string.
fn fence_open(line: &str) -> Option<(usize, char, usize, &str)> {
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

fn fence_closes(line: &str, ch: char, len: usize) -> bool {
    let trimmed = line.trim();
    trimmed.chars().count() >= len && trimmed.chars().all(|c| c == ch)
}

fn atx_heading(line: &str) -> Option<(usize, String)> {
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
fn setext_level(line: &str) -> Option<usize> {
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
fn plain_paragraph_line(line: &str) -> bool {
    let trimmed = line.trim_start();
    !trimmed.is_empty()
        && !trimmed.starts_with(['-', '*', '+', '|', '>', '#', '<'])
        && !trimmed
            .split_once(". ")
            .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
}

/// A fenced block being read.
struct OpenFence<'a> {
    indent: usize,
    ch: char,
    len: usize,
    lang: String,
    line: usize,
    body: Vec<&'a str>,
}

impl OpenFence<'_> {
    fn finish(self) -> Block {
        let text = self.body.join("\n");
        Block {
            lang: self.lang,
            line: self.line,
            text: if text.is_empty() { text } else { text + "\n" },
        }
    }
}

fn parse(text: &str) -> Page {
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
fn blank_code_spans_by_paragraph(lines: &[(usize, &str)]) -> Vec<(usize, String)> {
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
fn blank_code_spans(text: &str) -> String {
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
fn rendered_text(heading: &str) -> String {
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
fn slug(heading: &str) -> String {
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
fn heading_anchors(page: &Page) -> Vec<String> {
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
fn link_targets(line: &str) -> Vec<String> {
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
fn web_hosts(line: &str) -> Vec<String> {
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

fn has_scheme(target: &str) -> bool {
    let scheme: String = target
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "+-.".contains(*c))
        .collect();
    !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && target[scheme.len()..].starts_with(':')
}

fn percent_decode(text: &str) -> String {
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
fn resolve(page: &Path, target: &str) -> Result<PathBuf, String> {
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

// ---------------------------------------------------------------------------------------------
// The checks

/// The repository being checked, with the anchors of the pages links point into.
struct Repo {
    root: PathBuf,
    anchors: HashMap<PathBuf, Option<HashSet<String>>>,
}

impl Repo {
    fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            anchors: HashMap::new(),
        }
    }

    /// The anchors of a Markdown file, or `None` if it cannot be read.
    fn anchors_of(&mut self, file: &Path) -> Option<&HashSet<String>> {
        let root = &self.root;
        self.anchors
            .entry(file.to_path_buf())
            .or_insert_with(|| {
                let text = std::fs::read_to_string(root.join(file)).ok()?;
                Some(heading_anchors(&parse(&text)).into_iter().collect())
            })
            .as_ref()
    }

    /// Reads a page, or reports why it cannot.
    fn read(&self, page: &Path) -> Result<String, String> {
        std::fs::read_to_string(self.root.join(page))
            .map_err(|error| format!("{}: cannot be read: {error}", page.display()))
    }

    /// Every link and image on `page` that leads nowhere: a missing file or folder, a missing
    /// heading, a path out of the repository, or an address on another machine.
    fn check_links(&mut self, page: &Path) -> Vec<String> {
        let text = match self.read(page) {
            Ok(text) => text,
            Err(problem) => return vec![problem],
        };
        let parsed = parse(&text);
        let own: HashSet<String> = heading_anchors(&parsed).into_iter().collect();
        let mut problems = Vec::new();
        for (number, line) in &parsed.prose {
            let at = format!("{}:{number}", page.display());
            for host in web_hosts(line) {
                if !ALLOWED_HOSTS.contains(&host.as_str()) {
                    problems.push(format!(
                        "{at}: an address on {host:?}; links may only name this machine ({})",
                        ALLOWED_HOSTS.join(", ")
                    ));
                }
            }
            for target in link_targets(line) {
                if let Some(problem) = self.check_target(page, &own, &target) {
                    problems.push(format!("{at}: link to {target:?} {problem}"));
                }
            }
        }
        problems
    }

    /// What is wrong with one link target on `page`, if anything.
    fn check_target(&mut self, page: &Path, own: &HashSet<String>, target: &str) -> Option<String> {
        if target.is_empty() {
            return Some("is empty".to_owned());
        }
        if has_scheme(target) {
            let lower = target.to_lowercase();
            // Web addresses are checked with the rest of the line's addresses.
            return (!lower.starts_with("http://") && !lower.starts_with("https://"))
                .then(|| "uses a scheme other than http(s)".to_owned());
        }
        let (path, fragment) = match target.split_once('#') {
            Some((path, fragment)) => (path, Some(percent_decode(fragment))),
            None => (target, None),
        };
        let path = percent_decode(path.split('?').next().unwrap_or_default());
        if path.is_empty() {
            return match fragment {
                Some(fragment) if own.contains(&fragment) => None,
                Some(_) => Some("names no heading of this page".to_owned()),
                None => Some("is empty".to_owned()),
            };
        }
        let file = match resolve(page, &path) {
            Ok(file) => file,
            Err(problem) => return Some(problem),
        };
        if !self.root.join(&file).exists() {
            return Some(format!(
                "points to {}, which does not exist",
                file.display()
            ));
        }
        let fragment = fragment?;
        if file.extension().is_none_or(|ext| ext != "md") {
            return Some(format!(
                "has a fragment, but {} is not a Markdown page",
                file.display()
            ));
        }
        match self.anchors_of(&file) {
            Some(anchors) if anchors.contains(&fragment) => None,
            Some(_) => Some(format!("names no heading of {}", file.display())),
            None => Some(format!(
                "points to {}, which cannot be read",
                file.display()
            )),
        }
    }
}

/// Every `sh`/`bash`/`console` block that `bash -n` refuses, and every `toml` or `json` block
/// that does not parse.
fn check_examples(page: &Path, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for block in parse(text).blocks {
        let at = format!("{}:{}", page.display(), block.line);
        let result = match block.lang.as_str() {
            lang if SHELL_LANGUAGES.contains(&lang) => bash_syntax(&block.text),
            "toml" => block
                .text
                .parse::<toml::Table>()
                .map(drop)
                .map_err(|error| error.to_string()),
            "json" => json_values(&block.text),
            _ => Ok(()),
        };
        if let Err(error) = result {
            problems.push(format!(
                "{at}: the {} example does not parse: {}",
                block.lang,
                error.trim()
            ));
        }
    }
    problems
}

/// One JSON value, or several one after another (as a few frames are shown).
fn json_values(text: &str) -> Result<(), String> {
    let mut count = 0;
    for value in serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>() {
        value.map_err(|error| error.to_string())?;
        count += 1;
    }
    if count == 0 {
        return Err("the block is empty".to_owned());
    }
    Ok(())
}

/// `bash -n` on the script, written to a temporary file.
fn bash_syntax(script: &str) -> Result<(), String> {
    let mut file = tempfile::NamedTempFile::new()
        .map_err(|error| format!("cannot create a temporary file: {error}"))?;
    file.write_all(script.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|error| format!("cannot write a temporary file: {error}"))?;
    let output = Command::new("bash")
        .arg("-n")
        .arg(file.path())
        .output()
        .map_err(|error| format!("cannot run bash: {error}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(stderr.replace(&file.path().display().to_string(), "example"))
}

/// The README's own rules: short, and a table of contents, before the first section, that
/// links to every section.
fn check_readme(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lines = text.lines().count();
    if lines > README_MAX_LINES {
        problems.push(format!(
            "README.md has {lines} lines; at most {README_MAX_LINES}, the rest belongs in docs/"
        ));
    }
    let page = parse(text);
    let anchors = heading_anchors(&page);
    let sections: Vec<(&Heading, &String)> = page
        .headings
        .iter()
        .zip(&anchors)
        .filter(|(heading, _)| heading.level == 2)
        .collect();
    let Some(contents) = sections
        .iter()
        .position(|(heading, _)| rendered_text(&heading.text).trim().ends_with("Contents"))
    else {
        problems.push("README.md has no \"## Contents\" section".to_owned());
        return problems;
    };
    if contents != 0 {
        problems.push("README.md: the table of contents is not the first section".to_owned());
    }
    let start = sections[contents].0.line;
    let end = page
        .headings
        .iter()
        .map(|heading| heading.line)
        .find(|line| *line > start)
        .unwrap_or(usize::MAX);
    let known: HashSet<&String> = anchors.iter().collect();
    let mut listed = HashSet::new();
    for (number, line) in page.prose.iter().filter(|(n, _)| *n > start && *n < end) {
        if line.trim().is_empty() {
            continue;
        }
        let fragments: Vec<String> = link_targets(line)
            .into_iter()
            .filter_map(|target| target.strip_prefix('#').map(percent_decode))
            .collect();
        if fragments.is_empty() {
            problems.push(format!(
                "README.md:{number}: a line of the table of contents without a link to a section"
            ));
        }
        for fragment in fragments {
            if !known.contains(&fragment) {
                problems.push(format!(
                    "README.md:{number}: the table of contents links to #{fragment}, no heading"
                ));
            }
            listed.insert(fragment);
        }
    }
    for (index, (heading, anchor)) in sections.iter().enumerate() {
        if index != contents && !listed.contains(*anchor) {
            problems.push(format!(
                "README.md:{}: the section {:?} is missing from the table of contents",
                heading.line, heading.text
            ));
        }
    }
    problems
}

/// The rows of the table under `## Codes`: code number and `msg`.
fn code_rows(text: &str) -> Result<BTreeMap<u32, String>, String> {
    let page = parse(text);
    let section = page
        .headings
        .iter()
        .position(|heading| heading.level == 2 && heading.text == "Codes")
        .ok_or("no \"## Codes\" section")?;
    let start = page.headings[section].line;
    let end = page.headings[section + 1..]
        .iter()
        .find(|heading| heading.level <= 2)
        .map_or(usize::MAX, |heading| heading.line);
    let mut rows = BTreeMap::new();
    for line in text.lines().take(end - 1).skip(start) {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if let (Some(code), Some(msg)) = (cells.first(), cells.get(1)) {
            if let Ok(number) = code.parse::<u32>() {
                if rows.insert(number, (*msg).to_owned()).is_some() {
                    return Err(format!("code {number} has two rows"));
                }
            }
        }
    }
    Ok(rows)
}

/// The code table must list exactly the codes of `host/src/error.rs`, each with its `msg`.
fn check_code_table(text: &str, codes: &[(u32, &str)]) -> Vec<String> {
    let rows = match code_rows(text) {
        Ok(rows) => rows,
        Err(problem) => return vec![format!("docs/api.md: {problem}")],
    };
    let mut problems = Vec::new();
    for (number, msg) in codes {
        match rows.get(number) {
            None => problems.push(format!("docs/api.md: code {number} ({msg}) has no row")),
            Some(row) if row != msg => problems.push(format!(
                "docs/api.md: code {number} has msg {row:?}, the server sends {msg:?}"
            )),
            Some(_) => {}
        }
    }
    for number in rows.keys() {
        if !codes.iter().any(|(n, _)| n == number) {
            problems.push(format!(
                "docs/api.md: code {number} is not a code of the server"
            ));
        }
    }
    problems
}

fn assert_none(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problem(s) in the documentation:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The documentation of this repository

#[test]
fn the_pages_link_only_to_files_and_headings_that_exist() {
    let root = root();
    let pages = pages(&root);
    assert!(
        pages.contains(&PathBuf::from("docs/README.md")),
        "docs/README.md, the index of the reference pages, is missing: {pages:?}"
    );
    let mut repo = Repo::new(&root);
    let problems: Vec<String> = pages
        .iter()
        .flat_map(|page| repo.check_links(page))
        .collect();
    assert_none(&problems);
}

#[test]
fn the_examples_in_the_pages_parse() {
    let root = root();
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in pages(&root) {
        let text = std::fs::read_to_string(root.join(&page)).expect("a page can be read");
        checked += parse(&text)
            .blocks
            .iter()
            .filter(|b| SHELL_LANGUAGES.contains(&b.lang.as_str()) || b.lang == "toml")
            .count();
        problems.extend(check_examples(&page, &text));
    }
    assert!(checked > 0, "no shell or TOML examples were found at all");
    assert_none(&problems);
}

#[test]
fn the_readme_is_short_and_starts_with_a_table_of_contents() {
    let text = std::fs::read_to_string(root().join("README.md")).expect("README.md can be read");
    assert_none(&check_readme(&text));
}

#[test]
fn the_code_table_lists_every_code_the_server_has() {
    let text =
        std::fs::read_to_string(root().join("docs/api.md")).expect("docs/api.md can be read");
    let codes: Vec<(u32, &str)> = Code::ALL.iter().map(|c| (c.number(), c.msg())).collect();
    assert_none(&check_code_table(&text, &codes));
}

// ---------------------------------------------------------------------------------------------
// The checker, against mistakes made on purpose

/// A small repository: `files` are (path, content) pairs.
fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (path, content) in files {
        let path = dir.path().join(path);
        let parent = path.parent().expect("a file in the folder has a parent");
        std::fs::create_dir_all(parent).expect("the folder can be created");
        std::fs::write(&path, content).expect("the file can be written");
    }
    dir
}

fn link_problems(files: &[(&str, &str)], page: &str) -> Vec<String> {
    let dir = repo_with(files);
    Repo::new(dir.path()).check_links(Path::new(page))
}

#[test]
fn headings_get_githubs_anchors() {
    assert_eq!(
        slug("Plugins: an operator's tour"),
        "plugins-an-operators-tour"
    );
    assert_eq!(slug("`host/src/main.rs`, `app.rs`"), "hostsrcmainrs-apprs");
    assert_eq!(slug("History (type 2)"), "history-type-2");
    assert_eq!(
        slug("`unsafe_code` is `deny`, not `forbid`"),
        "unsafe_code-is-deny-not-forbid"
    );
    assert_eq!(
        slug("See [the docs](docs/README.md) now"),
        "see-the-docs-now"
    );
    assert_eq!(slug("Über — 用户"), "über--用户");
    assert_eq!(
        atx_heading("## C# notes ##"),
        Some((2, "C# notes".to_owned()))
    );
    assert_eq!(atx_heading("### C#"), Some((3, "C#".to_owned())));
    assert_eq!(atx_heading("#hashtag"), None);
    let page = parse("# Title\n\n## Notes\n\ntext\n\n## Notes\n\n## Notes\n\nSetext\n------\n");
    assert_eq!(
        heading_anchors(&page),
        ["title", "notes", "notes-1", "notes-2", "setext"]
    );
}

#[test]
fn a_link_to_a_missing_file_folder_or_heading_is_reported() {
    let files = [
        (
            "README.md",
            "# Top\n\n## Two words\n\n\
             [ok](docs/a.md) [ok](docs/) [ok](#two-words) [ok](docs/a.md#the-end)\n\
             ![ok](docs/pic.png) [ok](docs/a.md#the-end-1)\n\
             [broken](docs/missing.md)\n\
             [broken](#no-such-heading)\n\
             [broken](docs/a.md#no-such-heading)\n\
             [broken](../outside.md)\n\
             ![broken](docs/missing.png)\n\
             [broken](docs/pic.png#part)\n\
             [broken]: docs/gone.md\n",
        ),
        ("docs/a.md", "# The end\n\n# The end\n"),
        ("docs/pic.png", "png"),
    ];
    let problems = link_problems(&files, "README.md");
    let expected = [
        ("README.md:7:", "docs/missing.md"),
        ("README.md:8:", "#no-such-heading"),
        ("README.md:9:", "docs/a.md#no-such-heading"),
        ("README.md:10:", "leaves the repository"),
        ("README.md:11:", "docs/missing.png"),
        ("README.md:12:", "not a Markdown page"),
        ("README.md:13:", "docs/gone.md"),
    ];
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for ((at, what), problem) in expected.iter().zip(&problems) {
        assert!(
            problem.starts_with(at) && problem.contains(what),
            "{problem:?} should be at {at} about {what}"
        );
    }
}

#[test]
fn links_are_resolved_from_the_page_they_are_on() {
    let files = [
        ("README.md", "# Top\n"),
        (
            "docs/a.md",
            "[up](../README.md#top) [side](b.md) [wrong](README.md)\n",
        ),
        ("docs/b.md", "# B\n"),
    ];
    let problems = link_problems(&files, "docs/a.md");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("docs/README.md"), "{problems:?}");
}

#[test]
fn addresses_on_other_machines_are_reported_but_this_machine_is_allowed() {
    let files = [(
        "README.md",
        "Open <http://127.0.0.1:8080> or [this](http://localhost:8080/admin/).\n\
         See https://example.com/page for more.\n\
         [a site](https://Example.org/x)\n\
         [mail](mailto:someone@example.net)\n\
         In code it is fine: `curl https://example.com`.\n\
         ```sh\ncurl https://example.org\n```\n",
    )];
    let problems = link_problems(&files, "README.md");
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("README.md:2:") && problems[0].contains("example.com"));
    assert!(problems[1].starts_with("README.md:3:") && problems[1].contains("example.org"));
    assert!(problems[2].starts_with("README.md:4:") && problems[2].contains("scheme"));
}

#[test]
fn code_spans_and_fenced_blocks_are_not_read_as_links() {
    let files = [(
        "README.md",
        "`[not](a-link.md)` and ``two `ticks` [not](b.md)``\n\
         a span that `wraps [not](c.md)\nacross lines` is still a span\n\
         ~~~text\n[not](d.md)\n## Not a heading\n~~~\n\
         [real](#a-heading)\n\n## A heading\n",
    )];
    assert_eq!(link_problems(&files, "README.md"), Vec::<String>::new());
}

#[test]
fn examples_that_do_not_parse_are_reported() {
    let text = "\
```sh
echo fine | grep -o f   # fine
```

```bash
if true; then echo broken
```

```console
echo \"unclosed
```

```toml
[table]
key = \"value\"
```

```toml
key = value without quotes
```

```json
{\"status\": 200, \"data\": null}
{\"then\": \"another frame\"}
```

```json
{\"data\":\"…\",
```

```text
{\"elided\": …}
```
";
    let problems = check_examples(Path::new("page.md"), text);
    let lines: Vec<&str> = problems
        .iter()
        .map(|p| p.split(": ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        lines,
        ["page.md:5", "page.md:9", "page.md:18", "page.md:27"],
        "{problems:#?}"
    );
    assert!(problems[0].contains("the bash example"), "{problems:?}");
    assert!(problems[2].contains("the toml example"), "{problems:?}");
    assert!(problems[3].contains("the json example"), "{problems:?}");
}

#[test]
fn a_long_readme_or_an_incomplete_table_of_contents_is_reported() {
    let good = "# X\n\nIntro.\n\n## Contents\n\n- [One](#one)\n- [Two](#two)\n\n## One\n\n## Two\n";
    assert_eq!(check_readme(good), Vec::<String>::new());

    let missing = good.replace("- [Two](#two)\n", "");
    let problems = check_readme(&missing);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("\"Two\" is missing"), "{problems:?}");

    let dangling = good.replace("(#two)", "(#three)");
    let problems = check_readme(&dangling);
    assert!(
        problems.iter().any(|p| p.contains("#three")),
        "{problems:?}"
    );

    let none = "# X\n\n## One\n";
    assert_eq!(check_readme(none).len(), 1);

    let long = format!("{good}{}", "line\n".repeat(README_MAX_LINES));
    let problems = check_readme(&long);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("lines"), "{problems:?}");
}

#[test]
fn a_code_table_that_differs_from_the_server_is_reported() {
    let table = "## Codes\n\n| code | msg | meaning |\n|---|---|---|\n\
                 | 200 | ok | success |\n| 30011 | 用户不存在 | no such user |\n\
                 | 99999 | extra | not a code |\n\n## Next\n\n| 400 | after | the section |\n";
    let codes = [(200, "ok"), (30011, "用户不存在"), (500, "fail")];
    let problems = check_code_table(table, &codes);
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(problems[0].contains("code 500"), "{problems:?}");
    assert!(problems[1].contains("code 99999"), "{problems:?}");
    let wrong = table.replace("| ok |", "| okay |");
    assert!(check_code_table(&wrong, &codes)[0].contains("\"okay\""));
}
