//! Which of berth's task definition revisions go beyond the history limit.

/// Whether revisions may be pruned at all: ECS numbers a family's
/// revisions from 1, so up to revision `limit` there cannot be more than
/// `limit` of them (and nothing needs listing).
pub fn may_prune(desired_arn: &str, revision_history_limit: i32) -> bool {
    let limit = revision_history_limit.max(1) as i64;
    revision_of(desired_arn).is_none_or(|r| r > limit)
}

/// berth's revisions to deregister, oldest first: the newest
/// `revisionHistoryLimit` of `owned` stay, and so do the desired revision,
/// the rollback target (`previous`, and the newest owned revision other
/// than the desired one) and every revision a deployment of the service
/// runs (`in_use`), wherever they are in the history.
pub fn revisions_to_prune(
    owned: &[String],
    desired_arn: &str,
    previous: Option<&str>,
    in_use: &[String],
    revision_history_limit: i32,
) -> Vec<String> {
    let limit = revision_history_limit.max(1) as usize;
    let mut newest_first: Vec<&String> = owned.iter().collect();
    newest_first.sort_by_key(|arn| std::cmp::Reverse(revision_of(arn)));
    let rollback_target = newest_first
        .iter()
        .find(|a| a.as_str() != desired_arn)
        .map(|a| a.as_str());
    let protected = |arn: &str| {
        arn == desired_arn
            || Some(arn) == previous
            || Some(arn) == rollback_target
            || in_use.iter().any(|u| u == arn)
    };
    let mut prune: Vec<String> = newest_first
        .iter()
        .enumerate()
        .filter(|(kept, arn)| *kept >= limit && !protected(arn))
        .map(|(_, arn)| arn.to_string())
        .collect();
    prune.reverse();
    prune
}

/// `...:task-definition/FAMILY:REV` -> `REV`.
pub(super) fn revision_of(arn: &str) -> Option<i64> {
    arn.rsplit_once(':').and_then(|(_, r)| r.parse().ok())
}
