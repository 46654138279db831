//! The Events of the service mutations: what each says, decided with the
//! plan so that acting only publishes them.

use kube::runtime::events::EventType;

use super::fields_of;
use crate::aws::ecs::service_tags::TagChange;
use crate::aws::ecs::services::ServiceUpdate;
use crate::aws::tags::TAG_OWNER;

/// The Event of a tag change: adopting (berth's owner tag set), drift set
/// back, or the spec's tags applied.
pub fn tags_event(
    change: &TagChange,
    drifted: bool,
    service: &str,
) -> (EventType, &'static str, String) {
    if change.set.contains_key(TAG_OWNER) {
        (
            EventType::Normal,
            "Adopted",
            format!("adopted the existing ECS service {service} (spec.adopt: true)"),
        )
    } else if drifted {
        (
            EventType::Warning,
            "DriftCorrected",
            format!(
                "changed outside berth, set back: tags ({})",
                change.describe()
            ),
        )
    } else {
        (
            EventType::Normal,
            "TagsUpdated",
            format!("updated the service's tags: {}", change.describe()),
        )
    }
}

/// The one Event of an UpdateService: drift set back is the news (a
/// Warning naming the drifted fields and what else the same call changed);
/// otherwise what the update does. Distinct reasons: the Event recorder
/// folds events with the same reason into one series and keeps the first
/// note.
pub fn update_event(
    update: &ServiceUpdate,
    drift: &[String],
    revision: i64,
) -> (EventType, &'static str, String) {
    let drifted = |f: &str| drift.iter().any(|d| d == f);
    let revision_change = match update.task_definition.as_ref() {
        Some(target) if update.rollback => Some((
            "RollingBack",
            format!("rolling back to {target} after a failed post-rollout check"),
        )),
        Some(_) if !drifted("taskDefinition") => {
            Some(("RolloutStarted", format!("rolling out revision {revision}")))
        }
        _ => None,
    };
    let settings: Vec<&str> = fields_of(update)
        .into_iter()
        .filter(|f| *f != "taskDefinition" && !drifted(f))
        .collect();
    let settings = (!settings.is_empty()).then(|| format!("updated {}", settings.join(", ")));
    if !drift.is_empty() {
        let also: Vec<String> = revision_change
            .map(|(_, what)| what)
            .into_iter()
            .chain(settings)
            .collect();
        let also = if also.is_empty() {
            String::new()
        } else {
            format!("; in the same update: {}", also.join("; "))
        };
        let note = format!(
            "changed outside berth, set back: {}{also}",
            drift.join(", ")
        );
        return (EventType::Warning, "DriftCorrected", note);
    }
    match (revision_change, settings) {
        (Some((reason, what)), Some(settings)) => {
            (EventType::Normal, reason, format!("{what}; {settings}"))
        }
        (Some((reason, what)), None) => (EventType::Normal, reason, what),
        (None, settings) => (
            EventType::Normal,
            "ServiceUpdated",
            settings.unwrap_or_else(|| "updated service settings".into()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/shop-api:3";

    #[test]
    fn one_event_per_update_says_what_drifted_and_what_else_changed() {
        let rollout = ServiceUpdate {
            task_definition: Some(TD.into()),
            ..Default::default()
        };
        let scale = ServiceUpdate {
            desired_count: Some(2),
            ..Default::default()
        };
        let both = ServiceUpdate {
            desired_count: Some(2),
            platform_version: Some("1.4.0".into()),
            ..rollout.clone()
        };
        let rollback = ServiceUpdate {
            rollback: true,
            ..rollout.clone()
        };
        let cases: &[(&ServiceUpdate, &[&str], EventType, &str, &str)] = &[
            (
                &rollout,
                &[],
                EventType::Normal,
                "RolloutStarted",
                "rolling out revision 3",
            ),
            (
                &rollback,
                &[],
                EventType::Normal,
                "RollingBack",
                &format!("rolling back to {TD} after a failed post-rollout check"),
            ),
            (
                &scale,
                &[],
                EventType::Normal,
                "ServiceUpdated",
                "updated desiredCount",
            ),
            (
                &both,
                &[],
                EventType::Normal,
                "RolloutStarted",
                "rolling out revision 3; updated desiredCount, platformVersion",
            ),
            (
                &scale,
                &["desiredCount"],
                EventType::Warning,
                "DriftCorrected",
                "changed outside berth, set back: desiredCount",
            ),
            (
                &rollout,
                &["taskDefinition"],
                EventType::Warning,
                "DriftCorrected",
                "changed outside berth, set back: taskDefinition",
            ),
            (
                &both,
                &["desiredCount"],
                EventType::Warning,
                "DriftCorrected",
                "changed outside berth, set back: desiredCount; \
                 in the same update: rolling out revision 3; updated platformVersion",
            ),
        ];
        for (update, names, kind, reason, note) in cases {
            let got = update_event(update, &drift(names), 3);
            assert_eq!(
                got,
                (*kind, *reason, note.to_string()),
                "{update:?} {names:?}"
            );
        }
    }

    #[test]
    fn a_tag_change_says_whether_it_adopts_sets_back_or_applies_the_spec() {
        let set = |k: &str| TagChange {
            set: [(k.to_string(), "v".to_string())].into(),
            remove: vec![],
        };
        let cases = [
            (set(TAG_OWNER), false, EventType::Normal, "Adopted"),
            (set("team"), true, EventType::Warning, "DriftCorrected"),
            (set("team"), false, EventType::Normal, "TagsUpdated"),
        ];
        for (change, drifted, type_, reason) in cases {
            let (t, r, note) = tags_event(&change, drifted, "api");
            assert_eq!((t, r), (type_, reason), "{note}");
            assert_eq!(crate::api::reasons::text_problem(r, &note), None);
        }
    }
}
