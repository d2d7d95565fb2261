//! The checks on a repository's pages: links and anchors, examples that must parse, the
//! README's own rules and the code table.

use super::*;

/// The repository being checked, with the anchors of the pages links point into.
pub(super) struct Repo {
    pub(super) root: PathBuf,
    pub(super) anchors: HashMap<PathBuf, Option<HashSet<String>>>,
}

impl Repo {
    pub(super) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            anchors: HashMap::new(),
        }
    }

    /// The anchors of a Markdown file, or `None` if it cannot be read.
    pub(super) fn anchors_of(&mut self, file: &Path) -> Option<&HashSet<String>> {
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
    pub(super) fn read(&self, page: &Path) -> Result<String, String> {
        std::fs::read_to_string(self.root.join(page))
            .map_err(|error| format!("{}: cannot be read: {error}", page.display()))
    }

    /// Every link and image on `page` that leads nowhere: a missing file or folder, a missing
    /// heading, a path out of the repository, or an address on another machine.
    pub(super) fn check_links(&mut self, page: &Path) -> Vec<String> {
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
    pub(super) fn check_target(
        &mut self,
        page: &Path,
        own: &HashSet<String>,
        target: &str,
    ) -> Option<String> {
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
pub(super) fn check_examples(page: &Path, text: &str) -> Vec<String> {
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
pub(super) fn json_values(text: &str) -> Result<(), String> {
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
pub(super) fn bash_syntax(script: &str) -> Result<(), String> {
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
pub(super) fn check_readme(text: &str) -> Vec<String> {
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
pub(super) fn code_rows(text: &str) -> Result<BTreeMap<u32, String>, String> {
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
pub(super) fn check_code_table(text: &str, codes: &[(u32, &str)]) -> Vec<String> {
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

pub(super) fn assert_none(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} problem(s) in the documentation:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
