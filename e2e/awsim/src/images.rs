//! What a container image "does" when a task runs it: pull, exit, stay
//! healthy, log. Decided by control-API rules first, then by conventions in
//! the image reference (so tests and demos need no setup), then defaults.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImageBehavior {
    /// Exit with this code after `runSeconds` (default 3 s when only the
    /// code is given).
    pub exit_code: Option<i32>,
    /// Virtual seconds from RUNNING to exit.
    pub run_seconds: Option<f64>,
    /// Never passes health checks; the service scheduler replaces the task
    /// after the health-check grace period.
    pub unhealthy: bool,
    /// Exits 1 after `runSeconds` (default 5 s), every time.
    pub crash_loop: bool,
    /// The image cannot be pulled (`CannotPullContainerError`); the string,
    /// when not empty, replaces the default error detail.
    pub pull_failure: Option<String>,
    /// Lines the container writes to its awslogs stream once RUNNING.
    pub log_lines: Vec<String>,
}

/// A control-API rule: `image` matched exactly, or as a prefix when
/// `prefix` is true.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRule {
    pub image: String,
    #[serde(default)]
    pub prefix: bool,
    #[serde(flatten)]
    pub behavior: ImageBehavior,
}

/// The resolved plan for one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub pull_failure: Option<String>,
    /// `Some((code, after))`: the container exits with `code` `after`
    /// virtual seconds once RUNNING. `None`: it runs until stopped.
    pub exit: Option<(i32, f64)>,
    pub unhealthy: bool,
    pub log_lines: Vec<String>,
}

/// How long a one-off task whose image says nothing runs before exiting 0.
pub const ONE_OFF_SECONDS: f64 = 3.0;

fn convention(image: &str) -> ImageBehavior {
    // Only the repository path and tag carry conventions: a registry host
    // like `exit-3.example.com` would be a surprising trigger.
    let without_host = match image.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') => rest,
        _ => image,
    };
    let lower = without_host.to_ascii_lowercase();
    let tokens: Vec<&str> = lower
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .collect();
    let mut b = ImageBehavior::default();
    let number_after = |word: &str| -> Option<f64> {
        lower.match_indices(word).find_map(|(i, _)| {
            let digits: String = lower[i + word.len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            digits.parse().ok()
        })
    };
    if let Some(code) = number_after("exit-") {
        b.exit_code = Some(code as i32);
    }
    if let Some(secs) = number_after("sleep-") {
        b.run_seconds = Some(secs);
        b.exit_code.get_or_insert(0);
    }
    if lower.contains("unhealthy") {
        b.unhealthy = true;
    }
    if lower.contains("crashloop") || lower.contains("crash-loop") {
        b.crash_loop = true;
    }
    if tokens.iter().any(|t| t.contains("pullfail")) {
        b.pull_failure = Some(String::new());
    }
    b
}

pub fn resolve(rules: &[ImageRule], image: &str, one_off: bool) -> Plan {
    let exact = rules.iter().rev().find(|r| !r.prefix && r.image == image);
    let by_prefix = || {
        rules
            .iter()
            .filter(|r| r.prefix && image.starts_with(&r.image))
            .max_by_key(|r| r.image.len())
    };
    let b = exact
        .or_else(by_prefix)
        .map(|r| r.behavior.clone())
        .unwrap_or_else(|| convention(image));
    let exit = if b.crash_loop {
        Some((b.exit_code.unwrap_or(1), b.run_seconds.unwrap_or(5.0)))
    } else if let Some(code) = b.exit_code {
        Some((code, b.run_seconds.unwrap_or(ONE_OFF_SECONDS)))
    } else if let Some(secs) = b.run_seconds {
        Some((0, secs))
    } else if one_off && !b.unhealthy {
        Some((0, ONE_OFF_SECONDS))
    } else {
        None
    };
    Plan {
        pull_failure: b.pull_failure,
        exit,
        unhealthy: b.unhealthy,
        log_lines: b.log_lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conventions() {
        assert_eq!(resolve(&[], "nginx:1.27", false).exit, None);
        assert_eq!(resolve(&[], "nginx:1.27", true).exit, Some((0, 3.0)));
        assert_eq!(resolve(&[], "app:exit-3", true).exit, Some((3, 3.0)));
        assert_eq!(resolve(&[], "app:sleep-30", false).exit, Some((0, 30.0)));
        assert!(resolve(&[], "ghcr.io/x/unhealthy:1", false).unhealthy);
        assert_eq!(resolve(&[], "crashloop:1", false).exit, Some((1, 5.0)));
        assert!(resolve(&[], "docker.io/x/pullfail:1", false)
            .pull_failure
            .is_some());
        assert_eq!(
            resolve(&[], "exit-3.example.com/app:1", true).exit,
            Some((0, 3.0))
        );
    }

    #[test]
    fn rules_win_over_conventions() {
        let rules = vec![
            ImageRule {
                image: "app:".into(),
                prefix: true,
                behavior: ImageBehavior {
                    exit_code: Some(7),
                    ..Default::default()
                },
            },
            ImageRule {
                image: "app:exit-3".into(),
                prefix: false,
                behavior: ImageBehavior {
                    unhealthy: true,
                    ..Default::default()
                },
            },
        ];
        assert_eq!(resolve(&rules, "app:v1", false).exit, Some((7, 3.0)));
        let p = resolve(&rules, "app:exit-3", false);
        assert!(p.unhealthy && p.exit.is_none());
    }
}
