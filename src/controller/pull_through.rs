//! Which PullThroughCache serves an image, shared by the EcsService and
//! MigrationJob reconcilers (owned by neither): an image in an account's
//! private ECR (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG|@DIGEST]`)
//! whose repository lies under a PullThroughCache's prefix is served by it.
//! The objects come from the PullThroughCache watch store, never a LIST.

use crate::api::conditions::{self, DEGRADED, READY};
use crate::api::pull_through_cache::{covers, PullThroughCache};
use crate::api::task_definition::TaskDefinitionSpec;

use super::context::Context;

/// The repository of a private ECR image in `region`, with its account.
pub fn private_repository<'a>(image: &'a str, region: &str) -> Option<(&'a str, &'a str)> {
    let (host, rest) = image.split_once('/')?;
    let (account, host_rest) = host.split_once(".dkr.ecr.")?;
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let image_region = host_rest.strip_suffix(".amazonaws.com")?;
    if image_region != region {
        return None;
    }
    let repo = rest.split_once('@').map_or(rest, |(r, _)| r);
    // A tag follows the last ':' after the last '/'.
    let last = repo.rfind('/').map_or(0, |i| i + 1);
    let repo = match repo[last..].find(':') {
        Some(i) => &repo[..last + i],
        None => repo,
    };
    Some((account, repo))
}

/// The PullThroughCache serving an image, as a status names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Serving {
    pub image: String,
    pub repository: String,
    /// `name` in the same namespace, `namespace/name` otherwise; None when
    /// no PullThroughCache covers the repository.
    pub object: Option<String>,
    /// What a failed pull should know about the rule.
    pub state: String,
    /// The rule serves the repository: Ready, and none of its warnings
    /// (overlapping rules, templates, repositories the cache did not
    /// create) affects this repository. False while pulls may fail.
    pub serves: bool,
}

/// The PullThroughCache of `namespace` (or, failing that, of any namespace:
/// a rule serves its whole registry) whose prefix covers `image`'s
/// repository, the longest prefix first. None for an image outside the
/// private ECR of `region`.
pub fn serving(
    caches: &[PullThroughCache],
    namespace: &str,
    region: &str,
    image: &str,
) -> Option<Serving> {
    let (account, repo) = private_repository(image, region)?;
    let mut candidates: Vec<&PullThroughCache> = caches
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| covers(&p.spec.ecr_repository_prefix, repo))
        .filter(|p| {
            p.spec
                .registry_id
                .as_deref()
                .or(p.status.as_ref().and_then(|s| s.registry_id.as_deref()))
                .is_none_or(|r| r == account)
        })
        .collect();
    candidates.sort_by_key(|p| {
        (
            p.metadata.namespace.as_deref() != Some(namespace),
            std::cmp::Reverse(p.spec.ecr_repository_prefix.len()),
        )
    });
    let Some(p) = candidates.first() else {
        return Some(Serving {
            image: image.to_string(),
            repository: repo.to_string(),
            object: None,
            state: format!(
                "no PullThroughCache covers repository {repo}; create one whose ecrRepositoryPrefix is its first path segment"
            ),
            serves: false,
        });
    };
    let name = p.metadata.name.clone().unwrap_or_default();
    let object = match p.metadata.namespace.as_deref() {
        Some(ns) if ns != namespace => format!("{ns}/{name}"),
        _ => name,
    };
    let prefix = &p.spec.ecr_repository_prefix;
    let conds = p
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let ready = conditions::find(conds, READY);
    let degraded = conditions::find(conds, DEGRADED);
    let affecting = p
        .status
        .as_ref()
        .map(|s| s.affecting(repo))
        .unwrap_or_default();
    let is_ready = ready.is_some_and(|r| r.status == "True");
    let state = match (ready, degraded) {
        (Some(r), Some(d))
            if r.status == "True" && d.reason != "AsExpected" && !affecting.is_empty() =>
        {
            format!(
                "PullThroughCache {object} (prefix {prefix}) warns {}: {}",
                d.reason, d.message
            )
        }
        (Some(r), _) if r.status == "True" => {
            format!("PullThroughCache {object} (prefix {prefix}) is Ready")
        }
        (_, Some(d)) if d.status == "True" => format!(
            "PullThroughCache {object} (prefix {prefix}) is not valid, {}: {}",
            d.reason, d.message
        ),
        _ => format!("PullThroughCache {object} (prefix {prefix}) has no Ready rule yet"),
    };
    Some(Serving {
        image: image.to_string(),
        repository: repo.to_string(),
        object: Some(object),
        state,
        serves: is_ready && affecting.is_empty(),
    })
}

/// The first container image of `td` that lives in private ECR, with the
/// PullThroughCache serving it (or the lack of one). An image named in
/// `failure` is preferred.
pub fn for_task_definition(
    ctx: &Context,
    namespace: &str,
    region: &str,
    td: &TaskDefinitionSpec,
    failure: Option<&str>,
) -> Option<Serving> {
    let caches: Vec<PullThroughCache> = ctx
        .stores
        .caches
        .state()
        .iter()
        .map(|p| p.as_ref().clone())
        .collect();
    let all: Vec<Serving> = td
        .containers
        .iter()
        .filter_map(|c| serving(&caches, namespace, region, &c.image))
        .collect();
    let named = failure.and_then(|f| all.iter().find(|s| f.contains(&s.image)));
    named
        .or_else(|| all.iter().find(|s| s.object.is_some()))
        .or(all.first())
        .cloned()
}

/// `message` with the rule's state added when it reports a failed pull.
pub fn explain(message: &str, serving: Option<&Serving>) -> String {
    match serving {
        Some(s) if message.contains("CannotPullContainerError") && !message.contains(&s.state) => {
            format!("{message}; {}", s.state)
        }
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptc(yaml: &str) -> PullThroughCache {
        serde_yaml::from_str(yaml).unwrap()
    }

    const IMAGE: &str =
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub/library/nginx:1.27";

    #[test]
    fn parses_private_images() {
        assert_eq!(
            private_repository(IMAGE, "us-east-1"),
            Some(("123456789012", "docker-hub/library/nginx"))
        );
        assert_eq!(private_repository(IMAGE, "eu-west-1"), None);
        assert_eq!(
            private_repository("public.ecr.aws/nginx/nginx:1", "us-east-1"),
            None
        );
        assert_eq!(
            private_repository(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:ab",
                "us-east-1"
            ),
            Some(("123456789012", "app"))
        );
    }

    #[test]
    fn names_the_covering_object_and_its_state() {
        let missing = serving(&[], "shop", "us-east-1", IMAGE).unwrap();
        assert_eq!(missing.object, None);
        assert!(missing.state.contains("no PullThroughCache"));
        let p = ptc(r#"
apiVersion: berth.dev/v1alpha1
kind: PullThroughCache
metadata: {name: docker-hub, namespace: shop}
spec: {ecrRepositoryPrefix: docker-hub, upstreamRegistry: quay}
status:
  ecrRepositoryPrefix: docker-hub
  conflicts: [rule/docker-hub/library/nginx]
  conditions:
  - {type: Ready, status: "True", reason: PrefixOverlap, message: m, lastTransitionTime: "2026-01-01T00:00:00Z"}
  - {type: Degraded, status: "False", reason: PrefixOverlap, message: other rules overlap, lastTransitionTime: "2026-01-01T00:00:00Z"}
"#);
        let s = serving(std::slice::from_ref(&p), "shop", "us-east-1", IMAGE).unwrap();
        assert_eq!(s.object.as_deref(), Some("docker-hub"));
        assert!(
            s.state.contains("warns PrefixOverlap: other rules overlap"),
            "{}",
            s.state
        );
        assert!(!s.serves);
        // The same warning names another repository: this one is served.
        let other = IMAGE.replace("library/nginx", "library/redis");
        let s2 = serving(std::slice::from_ref(&p), "shop", "us-east-1", &other).unwrap();
        assert!(s2.serves, "{}", s2.state);
        assert!(s2.state.ends_with("is Ready"), "{}", s2.state);
        let msg = explain("1 task(s) stopped: CannotPullContainerError: x", Some(&s));
        assert!(msg.ends_with(&s.state));
        assert_eq!(
            crate::api::reasons::message_problem(
                crate::api::conditions::Reason::TasksFailing,
                &msg
            ),
            None
        );
    }
}
