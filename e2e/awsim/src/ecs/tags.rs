//! Tags: TagResource, UntagResource, ListTagsForResource on clusters,
//! services, task definitions and tasks.

use serde_json::{json, Value};

use crate::core::{AwsError, AwsResult, Ctx};
use crate::util::{str_field, str_list};

use super::{invalid, unknown_op, EcsState};

pub(super) fn tags_of(body: &Value) -> Vec<Value> {
    body.get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub(super) fn merge_tags(existing: &mut Vec<Value>, new: &[Value]) {
    for t in new {
        let key = t.get("key").cloned();
        existing.retain(|e| e.get("key") != key.as_ref());
        existing.push(t.clone());
    }
}

impl EcsState {
    pub(super) fn tag_op(&mut self, _ctx: &Ctx, op: &str, body: &Value) -> AwsResult<Value> {
        match op {
            "TagResource" => {
                let arn = str_field(body, "resourceArn")
                    .ok_or_else(|| invalid("resourceArn must be specified."))?;
                let new = tags_of(body);
                let tags = self.tags_mut(arn)?;
                let mut merged = tags.clone();
                merge_tags(&mut merged, &new);
                // "Maximum number of tags per resource - 50", existing ones
                // included (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TagResource.html).
                if merged.len() > crate::rules::ecs::TAGS.max {
                    return Err(invalid(format!(
                        "The resource can have at most {} tags.",
                        crate::rules::ecs::TAGS.max
                    )));
                }
                *tags = merged;
                Ok(json!({}))
            }
            "UntagResource" => {
                let arn = str_field(body, "resourceArn")
                    .ok_or_else(|| invalid("resourceArn must be specified."))?;
                let keys = str_list(body, "tagKeys");
                let tags = self.tags_mut(arn)?;
                tags.retain(|t| {
                    !t.get("key")
                        .and_then(Value::as_str)
                        .is_some_and(|k| keys.iter().any(|x| x == k))
                });
                Ok(json!({}))
            }
            "ListTagsForResource" => {
                let arn = str_field(body, "resourceArn")
                    .ok_or_else(|| invalid("resourceArn must be specified."))?;
                let tags = self.tags_mut(arn)?.clone();
                Ok(json!({"tags": tags}))
            }
            _ => Err(unknown_op(op)),
        }
    }

    pub(super) fn tags_mut(&mut self, arn: &str) -> AwsResult<&mut Vec<Value>> {
        let not_found = || {
            AwsError::client(
                "InvalidParameterException",
                "The specified resource could not be found.",
            )
        };
        let resource = arn.splitn(6, ':').nth(5).ok_or_else(not_found)?;
        if let Some(name) = resource.strip_prefix("cluster/") {
            return self
                .clusters
                .get_mut(name)
                .map(|c| &mut c.tags)
                .ok_or_else(not_found);
        }
        if let Some(rest) = resource.strip_prefix("service/") {
            let (cluster, name) = rest.split_once('/').ok_or_else(not_found)?;
            let i = self.find_service(cluster, name).ok_or_else(not_found)?;
            return Ok(&mut self.services[i].tags);
        }
        if resource.starts_with("task-definition/") {
            return self
                .taskdef_mut(arn)
                .map(|t| &mut t.tags)
                .ok_or_else(not_found);
        }
        if resource.starts_with("task/") {
            return self
                .tasks
                .get_mut(arn)
                .map(|t| &mut t.tags)
                .ok_or_else(not_found);
        }
        Err(not_found())
    }
}
