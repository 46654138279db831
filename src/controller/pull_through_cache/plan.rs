//! The PullThroughCache plan: pure functions from the spec, what ECR
//! reports and the last status to the one rule mutation and the conditions.

use crate::api::conditions::{self, Desired, Reason, DEGRADED, PROGRESSING, READY};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::api::pull_through_cache::{
    covers, PullThroughCache, PullThroughCacheSpec, PullThroughCacheStatus,
};
use crate::aws::ecr::{RuleRequest, RuleView, TemplateView, Verdict};
use crate::controller::claims::Standing;
use crate::controller::shell::{Outcome, Then};

#[derive(Clone, Debug, PartialEq)]
pub enum RuleAction {
    Nothing,
    Create(RuleRequest),
    /// credentialArn / customRoleArn, the only fields ECR updates in place.
    Update(RuleRequest),
    /// `replaceOnImmutableChange`: delete berth's rule of prefix `delete`
    /// (gone already counts as deleted), then create `create`, if any.
    Replace {
        delete: String,
        create: Option<RuleRequest>,
        /// The fields that forced it, for the Event.
        changed: Vec<&'static str>,
    },
}

impl RuleAction {
    /// The Event's note for the mutation.
    pub fn describe(&self) -> String {
        match self {
            RuleAction::Nothing => String::new(),
            RuleAction::Create(r) => format!(
                "created the pull-through cache rule {} -> {}",
                r.prefix, r.upstream_url
            ),
            RuleAction::Replace {
                delete,
                create,
                changed,
            } => {
                let created = match create {
                    Some(r) => format!(" and created {} -> {}", r.prefix, r.upstream_url),
                    None => String::new(),
                };
                format!(
                    "{} cannot be updated in place and spec.replaceOnImmutableChange is true: deleted the pull-through cache rule {delete}{created}",
                    changed.join(" and ")
                )
            }
            RuleAction::Update(r) => format!(
                "updated credentialArn/customRoleArn of the pull-through cache rule {}",
                r.prefix
            ),
        }
    }
}

/// What to do, or why nothing may be done (a failure for a human).
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    Act(RuleAction),
    Blocked(Reason, String),
    Paused,
}

pub struct Inputs<'a> {
    pub obj: &'a PullThroughCache,
    /// Every rule of the registry.
    pub rules: &'a [RuleView],
    pub paused: bool,
    /// The claim of the spec's prefix in the account and region.
    pub claim: &'a Standing,
    /// The claim of the prefix status records, when the spec moved away
    /// from it.
    pub old_claim: Option<&'a Standing>,
}

pub fn request(spec: &PullThroughCacheSpec) -> RuleRequest {
    RuleRequest {
        prefix: spec.ecr_repository_prefix.clone(),
        upstream_registry: spec.upstream_registry.as_aws(),
        upstream_url: spec.upstream_url().unwrap_or_default(),
        upstream_repository_prefix: spec.upstream_repository_prefix.clone(),
        credential_arn: spec.credential_arn.clone(),
        custom_role_arn: spec.custom_role_arn.clone(),
        registry_id: spec.registry_id.clone(),
    }
}

/// The fields UpdatePullThroughCacheRule cannot change that differ.
fn immutable_changes(spec: &PullThroughCacheSpec, rule: &RuleView) -> Vec<&'static str> {
    let mut out = Vec::new();
    if rule
        .upstream_registry
        .as_deref()
        .is_some_and(|u| u != spec.upstream_registry.as_aws())
    {
        out.push("upstreamRegistry");
    }
    let url = spec.upstream_url().unwrap_or_default();
    if rule
        .upstream_url
        .trim_start_matches("https://")
        .trim_end_matches('/')
        != url
    {
        out.push("upstreamRegistryUrl");
    }
    if rule.upstream_repository_prefix != spec.upstream_repository_prefix {
        out.push("upstreamRepositoryPrefix");
    }
    out
}

fn matches_spec(spec: &PullThroughCacheSpec, rule: &RuleView) -> bool {
    immutable_changes(spec, rule).is_empty()
        && rule.credential_arn == spec.credential_arn
        && rule.custom_role_arn == spec.custom_role_arn
}

/// Whether UpdatePullThroughCacheRule would change the rule: it sets the
/// fields it is given and cannot remove one, so a credential or role the
/// spec leaves out stays as it is (sending it again every resync would
/// change nothing).
fn needs_update(spec: &PullThroughCacheSpec, rule: &RuleView) -> bool {
    let differs = |want: &Option<String>, have: &Option<String>| want.is_some() && want != have;
    differs(&spec.credential_arn, &rule.credential_arn)
        || differs(&spec.custom_role_arn, &rule.custom_role_arn)
}

fn immutable(what: &str) -> Decision {
    Decision::Blocked(
        Reason::ImmutableFieldChanged,
        format!(
            "{what}, which ECR cannot update in place; set it back, or set spec.replaceOnImmutableChange: true to delete the rule and create it again"
        ),
    )
}

/// A prefix another existing object claims is never touched, `adopt` or
/// not. Otherwise the rule of the spec's prefix is this object's if it
/// holds the claim, or (an unclaimed rule) status records it, it is
/// identical to the spec and created after the object (a create whose
/// response was lost), or `spec.adopt` takes it over.
pub fn decide(i: &Inputs<'_>) -> Decision {
    let spec = &i.obj.spec;
    let prev = i.obj.status.clone().unwrap_or_default();
    let prefix = &spec.ecr_repository_prefix;
    if let Standing::Taken(owner) = i.claim {
        return Decision::Blocked(
            Reason::Conflict,
            format!(
                "the pull-through cache prefix {prefix} of this account and region belongs to {owner}, which still exists: berth leaves its rule alone, and spec.adopt cannot take it over. Choose another spec.ecrRepositoryPrefix, or delete {owner} (with deletionPolicy: Retain to keep the rule) and then set spec.adopt: true here"
            ),
        );
    }
    // berth's rule of a former prefix: replaced, or the change is refused.
    let moved_from = prev.ecr_repository_prefix.as_ref().filter(|p| *p != prefix);
    if let Some(old) = moved_from {
        if !spec.replace_on_immutable_change {
            return immutable(&format!(
                "spec.ecrRepositoryPrefix changed from {old} to {prefix}"
            ));
        }
    }
    let old_rule = old_rule(i, moved_from);
    let Some(rule) = i.rules.iter().find(|r| &r.prefix == prefix) else {
        return create(i, old_rule);
    };
    if !is_ours(i, &prev, rule) {
        return Decision::Blocked(
            Reason::AdoptionRequired,
            format!(
                "a pull-through cache rule for prefix {prefix} already exists (upstream {}) and was not created by this object; set spec.adopt: true to take it over, or choose another prefix",
                rule.upstream_url
            ),
        );
    }
    bring_to_spec(i, rule, old_rule)
}

/// The rule of the former prefix `moved_from`, when it is still in ECR (a
/// replace that stopped after the delete left none) and not claimed since
/// by another object.
fn old_rule(i: &Inputs<'_>, moved_from: Option<&String>) -> Option<String> {
    let old_taken = matches!(i.old_claim, Some(Standing::Taken(_)));
    moved_from
        .filter(|old| i.rules.iter().any(|r| &&r.prefix == old))
        .filter(|_| !old_taken)
        .cloned()
}

/// No rule of the spec's prefix: create it (replacing the former
/// prefix's rule, if any).
fn create(i: &Inputs<'_>, old_rule: Option<String>) -> Decision {
    if i.paused {
        return Decision::Paused;
    }
    let spec = &i.obj.spec;
    Decision::Act(match old_rule {
        Some(old) => RuleAction::Replace {
            delete: old,
            create: Some(request(spec)),
            changed: vec!["ecrRepositoryPrefix"],
        },
        None => RuleAction::Create(request(spec)),
    })
}

/// Whether the existing rule of the spec's prefix is this object's.
fn is_ours(i: &Inputs<'_>, prev: &PullThroughCacheStatus, rule: &RuleView) -> bool {
    let spec = &i.obj.spec;
    let born = i
        .obj
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_second() as f64);
    let created_after = matches!((rule.created_at, born), (Some(c), Some(b)) if c >= b);
    *i.claim == Standing::Mine
        || prev.ecr_repository_prefix.as_ref() == Some(&spec.ecr_repository_prefix)
        || (matches_spec(spec, rule) && created_after)
        || spec.adopt
}

/// berth's rule of the spec's prefix: the former prefix's rule goes,
/// then the rule is replaced or updated as the spec says.
fn bring_to_spec(i: &Inputs<'_>, rule: &RuleView, old_rule: Option<String>) -> Decision {
    let spec = &i.obj.spec;
    let prefix = &spec.ecr_repository_prefix;
    let changed = immutable_changes(spec, rule);
    if !changed.is_empty() && !spec.replace_on_immutable_change {
        return immutable(&format!(
            "spec changes {} of the rule for prefix {prefix}",
            changed.join(" and ")
        ));
    }
    if i.paused {
        return Decision::Paused;
    }
    if let Some(old) = old_rule {
        // The new prefix's rule exists already (a create whose response
        // was lost, or one adopted): the old one goes first, the next
        // reconcile brings the new one to the spec.
        return Decision::Act(RuleAction::Replace {
            delete: old,
            create: None,
            changed: vec!["ecrRepositoryPrefix"],
        });
    }
    if !changed.is_empty() {
        return Decision::Act(RuleAction::Replace {
            delete: prefix.clone(),
            create: Some(request(spec)),
            changed,
        });
    }
    if needs_update(spec, rule) {
        return Decision::Act(RuleAction::Update(request(spec)));
    }
    Decision::Act(RuleAction::Nothing)
}

/// When the first rule this object managed for `prefix` was created
/// (seconds since the epoch): the earliest seen, kept while the prefix
/// stays (a re-created rule serves the repositories the earlier one's
/// cache created), and started again from `rule` for a new prefix.
pub fn first_rule_created_at(
    prev: &PullThroughCacheStatus,
    prefix: &str,
    rule: Option<&RuleView>,
) -> Option<f64> {
    let known = prev
        .first_rule_created_at
        .as_deref()
        .filter(|_| prev.ecr_repository_prefix.as_deref() == Some(prefix))
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map(|t| t.as_duration().as_secs_f64());
    let now = rule.and_then(|r| r.created_at);
    match (known, now) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// [`first_rule_created_at`] as status writes it (RFC 3339).
pub fn timestamp(secs: f64) -> Option<String> {
    let d = SignedDuration::try_from_secs_f64(secs).ok()?;
    Timestamp::from_duration(d).ok().map(|t| t.to_string())
}

/// Whether two repository prefixes cover a common repository.
pub fn overlaps(a: &str, b: &str) -> bool {
    a == "ROOT"
        || b == "ROOT"
        || a == b
        || a.starts_with(&format!("{b}/"))
        || b.starts_with(&format!("{a}/"))
}

/// What can make pulls under the prefix fail although the rule is valid.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnosis {
    pub other_rules: Vec<String>,
    pub templates: Vec<String>,
    pub unmanaged: Vec<String>,
}

/// `unmanaged`: the repositories under the prefix the cache did not create
/// (`repositories::unmanaged`).
pub fn diagnose(
    prefix: &str,
    rules: &[RuleView],
    templates: &[TemplateView],
    unmanaged: Vec<String>,
) -> Diagnosis {
    Diagnosis {
        other_rules: rules
            .iter()
            .filter(|r| r.prefix != prefix && overlaps(&r.prefix, prefix))
            .map(|r| r.prefix.clone())
            .collect(),
        templates: templates
            .iter()
            .filter(|t| t.for_cache && overlaps(&t.prefix, prefix))
            .map(|t| t.prefix.clone())
            .collect(),
        unmanaged,
    }
}

impl Diagnosis {
    /// `status.conflicts`: other rules and templates, each named as such.
    pub fn conflicts(&self) -> Vec<String> {
        self.other_rules
            .iter()
            .map(|p| format!("rule/{p}"))
            .chain(self.templates.iter().map(|p| format!("template/{p}")))
            .collect()
    }

    /// The first problem's reason, and a message naming every problem and
    /// what to fix.
    pub fn warning(&self, prefix: &str) -> Option<(Reason, String)> {
        let mut parts = Vec::new();
        let mut reason = None;
        if !self.other_rules.is_empty() {
            reason.get_or_insert(Reason::PrefixOverlap);
            parts.push(format!(
                "other pull-through cache rules overlap prefix {prefix} ({}); delete them, one prefix rule serves every repository under it",
                named("rule", &self.other_rules)
            ));
        }
        if !self.templates.is_empty() {
            reason.get_or_insert(Reason::TemplateOverlap);
            parts.push(format!(
                "repository creation templates apply to repositories the cache creates ({}); delete them",
                named("template", &self.templates)
            ));
        }
        if !self.unmanaged.is_empty() {
            reason.get_or_insert(Reason::UnmanagedRepositories);
            parts.push(format!(
                "repositories under the prefix were created before the cache rule existed and carry no berth.dev/pull-through-cache record of its cache ({}): ECR does not fetch into repositories it did not create, so tags they lack fail to pull with CannotPullContainerError not found; delete them if they were made by hand",
                named("repository", &self.unmanaged)
            ));
        }
        reason.map(|r| (r, parts.join("; ")))
    }

    /// A rule whose prefix lies under another rule's or a template's names
    /// one repository of that wider prefix (the incident's per-repository
    /// rules): ECR matches a prefix followed by `/`, so the repository
    /// named `prefix` itself is pulled through the wider rule (and shaped by
    /// the template), never through this one. The reason and a message
    /// naming what covers it, when so.
    pub fn named_repository_unserved(&self, prefix: &str) -> Option<(Reason, String)> {
        let covering = |names: &[String]| -> Vec<String> {
            names
                .iter()
                .filter(|n| covers(n, prefix))
                .cloned()
                .collect()
        };
        let (rules, templates) = (covering(&self.other_rules), covering(&self.templates));
        let reason = match (rules.is_empty(), templates.is_empty()) {
            (true, true) => return None,
            (false, _) => Reason::PrefixOverlap,
            (true, false) => Reason::TemplateOverlap,
        };
        let by: Vec<String> = rules
            .iter()
            .map(|r| format!("rule {r}"))
            .chain(templates.iter().map(|t| format!("template {t}")))
            .collect();
        let mut message = format!(
            "it cannot serve repository {prefix}, which it is named after: {} covers that repository (a prefix serves only the repositories under {prefix}/); delete this rule and serve {prefix} through one prefix rule",
            by.join(", ")
        );
        if let Some((_, rest)) = self.warning(prefix) {
            message = format!("{message}; {rest}");
        }
        Some((reason, message))
    }
}

/// `kind a, kind b`: a rule and a repository of the same name (the
/// incident's per-repository rules) stay distinct clauses.
fn named(kind: &str, names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{kind} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The conditions once the rule exists and ECR validated it.
pub fn conditions(prefix: &str, verdict: &Verdict, diagnosis: &Diagnosis) -> Vec<Desired> {
    if !verdict.valid {
        let failure = verdict
            .failure
            .as_deref()
            .unwrap_or("ECR gave no failure message");
        return conditions::failed(
            Reason::RuleInvalid,
            format!("ValidatePullThroughCacheRule says the rule for prefix {prefix} is not valid: {failure}"),
        );
    }
    let ready = format!("the pull-through cache rule for prefix {prefix} is valid");
    if let Some((reason, message)) = diagnosis.named_repository_unserved(prefix) {
        // Not Ready: the one repository the rule is named after cannot
        // pull through it, so nothing this object was made for works.
        return vec![
            Desired::new(READY, false, reason, format!("{ready}, but {message}")),
            Desired::new(PROGRESSING, false, Reason::RuleReady, ready),
            Desired::new(DEGRADED, true, reason, message),
        ];
    }
    match diagnosis.warning(prefix) {
        None => vec![
            Desired::new(READY, true, Reason::RuleReady, ready.clone()),
            Desired::new(PROGRESSING, false, Reason::RuleReady, ready),
            conditions::not_degraded(),
        ],
        // Pulls of some repositories under the prefix fail, the others
        // work: Ready, and Degraded=False names the ones to fix.
        Some((reason, message)) => vec![
            Desired::new(READY, true, reason, format!("{ready}, but {message}")),
            Desired::new(PROGRESSING, false, Reason::RuleReady, ready),
            Desired::new(DEGRADED, false, reason, message),
        ],
    }
}

/// What ECR said of the rule after the reconcile's mutation.
pub struct Report<'a> {
    pub obj: &'a PullThroughCache,
    pub prev: &'a PullThroughCacheStatus,
    /// The spec's prefix's rule.
    pub rule: Option<&'a RuleView>,
    pub first_rule: Option<f64>,
    pub verdict: &'a Verdict,
    pub diagnosis: &'a Diagnosis,
    /// `status.repositoriesRecordedUntil` after this reconcile's tagging.
    pub recorded_until: Option<String>,
    pub now: Timestamp,
}

/// The next status from what ECR said.
pub fn status(r: &Report<'_>) -> PullThroughCacheStatus {
    let prefix = &r.obj.spec.ecr_repository_prefix;
    let generation = r.obj.metadata.generation;
    let desired = conditions(prefix, r.verdict, r.diagnosis);
    PullThroughCacheStatus {
        observed_generation: generation,
        conditions: conditions::merge(&r.prev.conditions, &desired, generation, r.now),
        registry_id: r.rule.and_then(|r| r.registry_id.clone()),
        ecr_repository_prefix: Some(prefix.clone()),
        first_rule_created_at: r.first_rule.and_then(timestamp),
        valid: Some(r.verdict.valid),
        validation_failure: r.verdict.failure.clone(),
        conflicts: r.diagnosis.conflicts(),
        unmanaged_repositories: r.diagnosis.unmanaged.clone(),
        repositories_recorded_until: r.recorded_until.clone(),
    }
}

/// A warning (or an invalid rule) that is news: it first appears or
/// changed since `prev`, so it gets one Event, not one per resync.
pub fn news<'a>(
    prev: &PullThroughCacheStatus,
    next: &'a PullThroughCacheStatus,
) -> Option<&'a Condition> {
    let now = conditions::find(&next.conditions, DEGRADED)
        .filter(|c| c.reason != Reason::AsExpected.as_str())?;
    let known = conditions::find(&prev.conditions, DEGRADED)
        .is_some_and(|c| c.reason == now.reason && c.message == now.message);
    (!known).then_some(now)
}

/// What a paused decision leaves as it is, for the shell to report as
/// `Paused` (`shell::paused`): Ready says whether the rule exists.
pub fn held(prefix: &str, exists: bool) -> Outcome<PullThroughCacheStatus> {
    let held = match exists {
        true => format!("the pull-through cache rule for prefix {prefix} is left as it is"),
        false => format!("the pull-through cache rule for prefix {prefix} is not created"),
    };
    Outcome::Held {
        ready: exists,
        held,
        then: Then::Resync,
    }
}
