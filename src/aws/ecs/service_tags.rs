//! The ECS service's tags: `spec.tags` plus berth's ownership tags are
//! authoritative. Tags AWS manages (`aws:` keys, e.g. the ECS managed tags)
//! are never touched. Tags are not an UpdateService field, so a change is
//! TagResource and UntagResource.

use std::collections::BTreeMap;

use super::views::ServiceView;

use crate::api::ecs_service::EcsService;
use crate::aws::tags::{TAG_OWNER, TAG_UID};

/// What to set and remove so the service's tags match the spec.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagChange {
    /// Keys missing or with another value, and the value to set.
    pub set: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

impl TagChange {
    /// `added a, b; removed c` for Events.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            let keys: Vec<&str> = self.set.keys().map(String::as_str).collect();
            parts.push(format!("set {}", keys.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("removed {}", self.remove.join(", ")));
        }
        parts.join("; ")
    }
}

/// The tags the service must carry.
pub fn wanted(obj: &EcsService) -> BTreeMap<String, String> {
    let mut tags = obj.spec.tags.clone();
    tags.insert(
        TAG_OWNER.to_string(),
        format!(
            "{}/{}",
            obj.metadata.namespace.as_deref().unwrap_or_default(),
            obj.metadata.name.as_deref().unwrap_or_default()
        ),
    );
    tags.insert(
        TAG_UID.to_string(),
        obj.metadata.uid.clone().unwrap_or_default(),
    );
    tags
}

/// `None` when the service's tags already match.
pub fn change(want: &BTreeMap<String, String>, svc: &ServiceView) -> Option<TagChange> {
    let have: BTreeMap<String, String> = svc
        .tags
        .iter()
        .filter(|(k, _)| !is_aws_managed(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let set: BTreeMap<String, String> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove: Vec<String> = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    let c = TagChange { set, remove };
    (c != TagChange::default()).then_some(c)
}

/// "Tags with the aws: prefix ... can't be edited or deleted."
/// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-using-tags.html>
fn is_aws_managed(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(tags: &[(&str, &str)]) -> ServiceView {
        ServiceView {
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn want(tags: &[(&str, &str)]) -> BTreeMap<String, String> {
        tags.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matching_tags_need_nothing_and_aws_tags_are_left_alone() {
        let w = want(&[("team", "shop"), (TAG_OWNER, "shop/api")]);
        let s = svc(&[
            ("team", "shop"),
            (TAG_OWNER, "shop/api"),
            ("aws:ecs:serviceName", "api"),
            ("AWS:Other", "x"),
        ]);
        assert_eq!(change(&w, &s), None);
    }

    #[test]
    fn changed_added_and_removed_tags() {
        let w = want(&[("team", "shop"), ("cost", "42"), (TAG_OWNER, "shop/api")]);
        let s = svc(&[("team", "web"), ("stale", "1"), (TAG_OWNER, "shop/api")]);
        let c = change(&w, &s).unwrap();
        assert_eq!(c.set, want(&[("cost", "42"), ("team", "shop")]));
        assert_eq!(c.remove, vec!["stale".to_string()]);
        assert_eq!(c.describe(), "set cost, team; removed stale");
    }
}
