//! The Dockerfile, read without a container engine (none runs where the
//! suite runs): a builder stage compiles berth from the locked sources, and
//! the final stage holds only that binary, runs as a non-root user and
//! starts `berth run`.

use std::fs;
use std::path::PathBuf;

/// One instruction: keyword (upper case) and its arguments, continuation
/// lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

#[derive(Debug, Default)]
struct Stage {
    from: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.instructions
            .iter()
            .filter(move |i| i.keyword == keyword)
            .map(|i| i.args.as_str())
    }

    fn last<'a>(&'a self, keyword: &'a str) -> Option<&'a str> {
        self.all(keyword).last()
    }
}

fn parse(text: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.trim().is_empty() {
        logical.push(current);
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical.iter().filter(|l| !l.trim().is_empty()) {
        let (keyword, args) = line
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((line, ""));
        let keyword = keyword.to_ascii_uppercase();
        let args = args.trim().to_string();
        if keyword == "FROM" {
            let words: Vec<&str> = args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            stages.push(Stage {
                from: words.first().unwrap_or(&"").to_string(),
                name: match words.as_slice() {
                    [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_string()),
                    _ => None,
                },
                instructions: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.instructions.push(Instruction { keyword, args });
        }
    }
    stages
}

/// Exec form `["a", "b"]` as its words; shell form is refused because the
/// final image has no shell to run it.
fn exec_form(args: &str) -> Result<Vec<String>, String> {
    serde_json::from_str::<Vec<String>>(args)
        .map_err(|_| format!("{args} is not exec form (a JSON array)"))
}

/// `--mount=type=cache,target=/x` directories of a RUN: their contents are
/// not part of the stage's image, so nothing can be copied out of them.
fn cache_mounts(run: &str) -> Vec<String> {
    run.split_whitespace()
        .filter_map(|w| w.strip_prefix("--mount="))
        .filter(|m| m.split(',').any(|kv| kv == "type=cache"))
        .filter_map(|m| {
            m.split(',')
                .find_map(|kv| kv.strip_prefix("target=").or(kv.strip_prefix("dst=")))
        })
        .map(|t| t.trim_end_matches('/').to_string())
        .collect()
}

/// Every reason the Dockerfile would not build berth into a small,
/// non-root image that runs `berth run`; empty when it does.
fn problems(text: &str) -> Vec<String> {
    let stages = parse(text);
    let mut problems = Vec::new();
    let Some((last, builders)) = stages.split_last() else {
        return vec!["no FROM".into()];
    };

    let builds_berth = |run: &str| {
        let words: Vec<&str> = run.split_whitespace().collect();
        let selects_berth = words
            .windows(2)
            .any(|w| matches!(w[0], "--bin" | "-p" | "--package") && w[1] == "berth");
        run.contains("cargo build")
            && words.contains(&"--release")
            && words.contains(&"--locked")
            && selects_berth
    };
    let builder = builders.iter().find(|s| s.all("RUN").any(builds_berth));
    let Some(builder) = builder else {
        problems.push(
            "no builder stage runs `cargo build --release --locked` of berth (--bin berth or -p berth)"
                .into(),
        );
        return problems;
    };
    let copies_lock = builder
        .all("COPY")
        .any(|c| c.split_whitespace().any(|w| w == "." || w == "Cargo.lock"));
    if !copies_lock {
        problems.push("the builder stage does not copy Cargo.lock, so --locked cannot hold".into());
    }

    if last.all("RUN").next().is_some() || last.all("ADD").next().is_some() {
        problems.push(
            "the final stage runs commands or ADDs files; it should only copy the binary".into(),
        );
    }
    // Images with no shell and no package manager: nothing in them but
    // libc, CA certificates and what the stage copies.
    let minimal = ["gcr.io/distroless/", "cgr.dev/chainguard/"];
    if !minimal.iter().any(|m| last.from.starts_with(m)) {
        problems.push(format!(
            "the final stage is based on {}, not a distroless image",
            last.from
        ));
    }
    let copies: Vec<&str> = last.all("COPY").collect();
    let builder_name = builder.name.as_deref().unwrap_or("0");
    let mut binary = None;
    for copy in &copies {
        let words: Vec<&str> = copy.split_whitespace().collect();
        let from = words.iter().find_map(|w| w.strip_prefix("--from="));
        let paths: Vec<&&str> = words.iter().filter(|w| !w.starts_with("--")).collect();
        match (from, paths.as_slice()) {
            (Some(f), [src, dst]) if f == builder_name && src.ends_with("berth") => {
                let cached = builder
                    .all("RUN")
                    .flat_map(cache_mounts)
                    .find(|dir| src.starts_with(&format!("{dir}/")));
                if let Some(dir) = cached {
                    problems.push(format!(
                        "{src} lies in the cache mount {dir}, which the image does not keep"
                    ));
                }
                let dst = if dst.ends_with('/') {
                    format!("{dst}berth")
                } else {
                    dst.to_string()
                };
                binary = Some(dst);
            }
            _ => problems.push(format!(
                "the final stage copies more than the binary: COPY {copy}"
            )),
        }
    }
    if copies.len() != 1 || binary.is_none() {
        problems.push("the final stage must copy exactly the berth binary from the builder".into());
    }

    match last.last("USER") {
        None => problems.push("the final stage sets no USER".into()),
        Some(user) => {
            let ids: Vec<&str> = user.split(':').collect();
            let non_root = |id: &str| id == "nonroot" || id.parse::<u32>().is_ok_and(|n| n != 0);
            if !ids.iter().all(|id| non_root(id)) {
                problems.push(format!(
                    "USER {user} is not a non-root numeric uid (or nonroot)"
                ));
            }
        }
    }

    let entrypoint = last.last("ENTRYPOINT").map(exec_form);
    let cmd = last.last("CMD").map(exec_form).unwrap_or(Ok(Vec::new()));
    match (entrypoint, cmd) {
        (None, _) => problems.push("the final stage has no ENTRYPOINT".into()),
        (Some(Err(e)), _) | (_, Err(e)) => problems.push(e),
        (Some(Ok(entrypoint)), Ok(cmd)) => {
            let runs: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
            let want = binary.clone().map(|b| vec![b, "run".to_string()]);
            if Some(runs.clone()) != want {
                problems.push(format!(
                    "the image runs {runs:?}, not the copied binary with `run` ({want:?})"
                ));
            }
            if entrypoint.first() != binary.as_ref() {
                problems.push("ENTRYPOINT does not start the copied binary".into());
            }
        }
    }
    problems
}

#[test]
fn the_dockerfile_builds_berth_into_a_small_non_root_image() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Dockerfile");
    let text = fs::read_to_string(path).unwrap();
    assert_eq!(problems(&text), Vec::<String>::new());
}

/// Each check fails on the mistake it is there for, so the test above
/// cannot pass on a Dockerfile that lost one of them.
#[test]
fn each_mistake_is_caught() {
    let good =
        fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    let broken = |from: &str, to: &str| {
        assert!(good.contains(from), "the Dockerfile no longer has {from:?}");
        problems(&good.replacen(from, to, 1))
    };
    for (from, to) in [
        ("--release", ""),
        ("--locked", ""),
        ("--bin berth", "--bin awsim"),
        ("COPY . .", "COPY src src"),
        ("USER 65532:65532", "USER 0"),
        ("USER 65532:65532", "USER root"),
        ("USER 65532:65532", ""),
        ("CMD [\"run\"]", "CMD [\"version\"]"),
        (
            "ENTRYPOINT [\"/usr/local/bin/berth\"]",
            "ENTRYPOINT /usr/local/bin/berth",
        ),
        ("ENTRYPOINT [\"/usr/local/bin/berth\"]", ""),
        (
            "COPY --from=build /berth",
            "COPY --from=build /src/target/release/berth",
        ),
    ] {
        assert!(
            !broken(from, to).is_empty(),
            "{from:?} -> {to:?} went unnoticed"
        );
    }
    let extra = good.replace(
        "USER 65532",
        "COPY --from=build /src/Cargo.toml /Cargo.toml\nUSER 65532",
    );
    assert!(!problems(&extra).is_empty(), "a second COPY went unnoticed");
    let shell = good.replace("USER 65532", "RUN echo hi\nUSER 65532");
    assert!(
        !problems(&shell).is_empty(),
        "a RUN in the final stage went unnoticed"
    );
    let fat = good.replace(
        "FROM gcr.io/distroless/cc-debian12:nonroot",
        "FROM rust:1.95-bookworm",
    );
    assert!(
        !problems(&fat).is_empty(),
        "a full OS as the final stage went unnoticed"
    );
    let one_stage = good.replacen("FROM gcr.io/distroless/cc-debian12:nonroot", "", 1);
    assert!(
        !problems(&one_stage).is_empty(),
        "a single stage went unnoticed"
    );
}
