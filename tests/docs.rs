//! The documentation stands alone: the generated pages under docs/ and the
//! README's reason table match the code they are generated from, and no Markdown file links to a
//! relative path that leaves the repository or does not exist (readers
//! have the repository, not the authors' machines).
//!
//! `BERTH_UPDATE_DOCS=1 cargo test -p berth --test docs` rewrites the
//! generated parts.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use berth::api::reasons::Reason;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn updating() -> bool {
    std::env::var_os("BERTH_UPDATE_DOCS").is_some()
}

const UPDATE: &str = "run BERTH_UPDATE_DOCS=1 cargo test -p berth --test docs";

#[test]
fn api_reference_is_generated_from_the_crds() {
    let path = root().join("docs/api-reference.md");
    let want = berth::api::reference::markdown();
    if updating() {
        fs::write(&path, &want).unwrap();
        return;
    }
    let on_disk = fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == want,
        "docs/api-reference.md differs from the CRD schemas: {UPDATE}"
    );
}

const BEGIN: &str = "<!-- reasons:begin -->\n";
const END: &str = "<!-- reasons:end -->";

/// `text` with the reason table between its markers replaced by `table`;
/// None without the markers.
fn with_reason_table(text: &str, table: &str) -> Option<String> {
    let start = text.find(BEGIN)? + BEGIN.len();
    let stop = text[start..].find(END)? + start;
    Some(format!("{}{table}{}", &text[..start], &text[stop..]))
}

/// The table between the markers of the file at `rel`, the same in every
/// copy: generated from src/api/reasons.rs.
fn check_reason_table(rel: &str, text: &str) {
    let want = Reason::markdown_table();
    let Some(generated) = with_reason_table(text, &want) else {
        panic!("{rel} has no {BEGIN:?} ... {END:?} markers around its reason table");
    };
    if updating() {
        if generated != text {
            fs::write(root().join(rel), generated).unwrap();
        }
        return;
    }
    assert!(
        generated == text,
        "{rel}'s reason table differs from src/api/reasons.rs: {UPDATE}"
    );
}

#[test]
fn conditions_page_lists_every_reason() {
    let page = fs::read_to_string(root().join("docs/conditions.md")).unwrap();
    check_reason_table("docs/conditions.md", &page);
}

/// The README carries the table too (reason, meaning, what to do), in its
/// `## Condition reasons` section. Updating puts the markers at the end of
/// that section when they are missing.
#[test]
fn readme_lists_every_reason() {
    let mut readme = fs::read_to_string(root().join("README.md")).unwrap();
    if updating() && !readme.contains(BEGIN) {
        let section = readme
            .find("\n## Condition reasons\n")
            .expect("README has a `## Condition reasons` section")
            + 1;
        let end = readme[section..]
            .find("\n## ")
            .map_or(readme.len(), |i| section + i + 1);
        readme.insert_str(end, &format!("{BEGIN}{END}\n\n"));
    }
    check_reason_table("README.md", &readme);
}

#[test]
fn the_reason_table_goes_between_the_markers() {
    let text = format!("intro\n{BEGIN}old\n{END}\noutro\n");
    assert_eq!(
        with_reason_table(&text, "| new |\n").unwrap(),
        format!("intro\n{BEGIN}| new |\n{END}\noutro\n")
    );
    assert_eq!(with_reason_table("no markers", "x"), None);
}

/// The set-up a newcomer reads is the two scripts CI runs, nothing more.
#[test]
fn readme_set_up_is_the_two_scripts() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Set up\n"))
        .expect("README has a `## Set up` section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the Set up section has a sh block");
    let commands: Vec<&str> = block
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(commands, ["./e2e/demo.sh", "./e2e/test.sh"]);
}

#[test]
fn markdown_links_stay_inside_the_repository() {
    let root = root();
    let mut problems = Vec::new();
    for file in markdown_files(&root) {
        let text = fs::read_to_string(root.join(&file)).unwrap();
        problems.extend(broken_links(&root, &file, &text));
    }
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_link_check_catches_what_it_should() {
    let root = root();
    let readme = Path::new("README.md");
    let bad = "[design](../shared/DESIGN.md) [gone](docs/nope.md) [abs](/../x.md)";
    assert_eq!(broken_links(&root, readme, bad).len(), 3);
    let ok = "[a](https://example.com) [b](#tests) [c](examples/) [d](Cargo.toml#L1)\n\
              `[code](../x.md)`\n```\n[fenced](../x.md)\n```\n[ref]: src/lib.rs\n";
    assert_eq!(broken_links(&root, readme, ok), Vec::<String>::new());
    assert_eq!(
        broken_links(&root, readme, "[ref]: ../outside.md\n").len(),
        1
    );
}

/// Markdown files git knows of: tracked, and new ones not yet added (so a
/// page fails here before it is committed, not after).
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let out = Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            "*.md",
        ])
        .current_dir(root)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git ls-files failed");
    let mut files: Vec<PathBuf> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        // A tracked file deleted in the work tree has no links left.
        .filter(|f| root.join(f).is_file())
        .collect();
    files.sort();
    files.dedup();
    assert!(files.contains(&PathBuf::from("README.md")));
    files
}

/// Every relative link target of `text` (a file at `file`, relative to
/// `root`) that leaves the repository or names nothing there.
fn broken_links(root: &Path, file: &Path, text: &str) -> Vec<String> {
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for target in link_targets(text) {
        let path = target.split(['#', '?']).next().unwrap_or_default();
        let external = path.contains("://") || path.starts_with("mailto:");
        if path.is_empty() || external {
            continue;
        }
        let joined = match path.strip_prefix('/') {
            // GitHub resolves a leading `/` from the repository root.
            Some(from_root) => PathBuf::from(from_root),
            None => dir.join(path),
        };
        let problem = match normalize(&joined) {
            None => "leaves the repository",
            Some(inside) if !root.join(&inside).exists() => "does not exist",
            Some(_) => continue,
        };
        problems.push(format!("{}: {target} {problem}", file.display()));
    }
    problems
}

/// `a/./b/../c` -> `a/c`; None when `..` climbs above the start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Targets of inline links and images `[t](target "title")`, reference
/// definitions `[id]: target` and HTML `href`/`src`, outside code.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let line = without_code_spans(line);
        if let Some(rest) = line.trim_start().strip_prefix('[') {
            if let Some((_, after)) = rest.split_once("]:") {
                if let Some(t) = after.split_whitespace().next() {
                    targets.push(t.trim_matches(['<', '>']).to_string());
                }
            }
        }
        let mut rest = line.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            if let Some(t) = rest[..end].split_whitespace().next() {
                targets.push(t.trim_matches(['<', '>']).to_string());
            }
        }
        for attr in ["href=\"", "src=\""] {
            let mut rest = line.as_str();
            while let Some(i) = rest.find(attr) {
                rest = &rest[i + attr.len()..];
                let end = rest.find('"').unwrap_or(rest.len());
                targets.push(rest[..end].to_string());
            }
        }
    }
    targets
}

/// The line with every `code span` removed: a link written as code is an
/// example, not a link.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(open) = rest.find('`') {
        out.push_str(&rest[..open]);
        let ticks = rest[open..].len() - rest[open..].trim_start_matches('`').len();
        let fence = &rest[open..open + ticks];
        let body = &rest[open + ticks..];
        match body.find(fence) {
            Some(close) => rest = &body[close + ticks..],
            None => {
                rest = body;
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// docs/architecture.md follows one field through the code: every row of
/// its worked example names a file and a line of code that must still be
/// there, so the example cannot drift from the code it explains.
#[test]
fn the_architecture_example_points_at_code_that_exists() {
    let text = fs::read_to_string(root().join("docs/architecture.md")).unwrap();
    let start = text
        .find("<!-- example:begin -->")
        .expect("docs/architecture.md has no example markers");
    let stop = text.find("<!-- example:end -->").unwrap();
    let rows: Vec<(String, String)> = text[start..stop]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Step") && !l.starts_with("| ---"))
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            let code = |c: &str| {
                c.trim()
                    .trim_matches('|')
                    .trim()
                    .trim_matches('`')
                    .to_string()
            };
            (code(cells[1]), code(cells[2]))
        })
        .collect();
    assert!(rows.len() >= 5, "the example lost its rows: {rows:?}");
    for (file, needle) in rows {
        let code = fs::read_to_string(root().join(&file))
            .unwrap_or_else(|_| panic!("docs/architecture.md names {file}, which does not exist"));
        assert!(
            code.contains(&needle),
            "docs/architecture.md says {file} has `{needle}`; it does not"
        );
    }
}
