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

mod checks;
mod markdown;

use checks::*;
use markdown::*;

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
