//! Reconciliation of `PullThroughCache`: validate, observe ECR (every rule,
//! templates, repositories under the prefix), plan the one rule mutation,
//! act, validate the rule with ECR, write status once.

pub mod plan;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod plan_tests_states;
pub mod repositories;
#[cfg(test)]
mod repositories_tests;
#[cfg(test)]
pub(crate) use plan_tests_states::rows as states;

use std::sync::Arc;

use kube::runtime::events::EventType;
use kube::ResourceExt;

use super::claims::{self, Holder, Standing};
use super::context::{is_paused, Context};
use super::error::{Error, Result};
use super::shell::{Deleted, Failed, Kind, Outcome, Target, Then};
use crate::api::common::DeletionPolicy;
use crate::api::pull_through_cache::{PullThroughCache, PullThroughCacheStatus};
use crate::api::roles::PassesRoles;
use crate::aws::tags::TAG_PULL_THROUGH_CACHE;
use crate::aws::{ecr, sts, Clients};
use plan::{Decision, RuleAction};

impl Kind for PullThroughCache {
    type Status = PullThroughCacheStatus;

    fn status(&self) -> Option<&PullThroughCacheStatus> {
        self.status.as_ref()
    }

    fn invalid(&self) -> Option<String> {
        self.spec.validate().err().map(|e| e.to_string())
    }

    async fn converge(
        &self,
        ctx: &Context,
        target: &Target<'_>,
        prev: &PullThroughCacheStatus,
    ) -> Result<Outcome<PullThroughCacheStatus>> {
        let clients = target.clients(&self.passed_roles()).await?;
        converge(self, ctx, &clients, prev).await
    }

    /// berth never recorded a rule: nothing of ours exists (a claim taken
    /// just before a failed status write is stale once this object is
    /// gone, and the next claimant takes it over).
    fn left_in_aws(&self) -> Option<String> {
        recorded_prefix(self).map(|p| format!("the pull-through cache rule {p}"))
    }

    fn retained(&self) -> Option<(&'static str, String)> {
        let prefix = recorded_prefix(self)?;
        (self.spec.deletion_policy == DeletionPolicy::Retain).then(|| {
            (
                "RuleRetained",
                format!("deletionPolicy Retain: the pull-through cache rule {prefix} stays in ECR"),
            )
        })
    }

    async fn retain(&self, ctx: &Context) {
        retain(self, ctx).await
    }

    async fn delete(&self, ctx: &Context, clients: &Arc<Clients>) -> Result<Deleted> {
        delete(self, ctx, clients).await
    }
}

/// What a reconcile reads before it decides: every rule of the registry
/// and the claims of the spec's prefix and of the one status records.
struct Observed {
    rules: Vec<ecr::RuleView>,
    me: Holder,
    claim: claims::Observed,
    /// The prefix status records, when the spec moved away from it.
    old_prefix: Option<String>,
    old_claim: Option<claims::Observed>,
}

async fn observe(
    obj: &PullThroughCache,
    ctx: &Context,
    clients: &Clients,
    prev: &PullThroughCacheStatus,
) -> Result<Observed> {
    let prefix = &obj.spec.ecr_repository_prefix;
    let rules = ecr::rules(clients, obj.spec.registry_id.as_deref()).await?;
    let me = holder(obj)?;
    let claim = observe_claim(obj, ctx, clients, &me, prefix).await?;
    let old_prefix = prev
        .ecr_repository_prefix
        .clone()
        .filter(|old| old != prefix);
    let old_claim = match &old_prefix {
        Some(old) => Some(observe_claim(obj, ctx, clients, &me, old).await?),
        None => None,
    };
    Ok(Observed {
        rules,
        me,
        claim,
        old_prefix,
        old_claim,
    })
}

async fn converge(
    obj: &PullThroughCache,
    ctx: &Context,
    clients: &Clients,
    prev: &PullThroughCacheStatus,
) -> Result<Outcome<PullThroughCacheStatus>> {
    let o = observe(obj, ctx, clients, prev).await?;
    let decision = plan::decide(&plan::Inputs {
        obj,
        rules: &o.rules,
        paused: is_paused(obj.annotations()),
        claim: &o.claim.standing,
        old_claim: o.old_claim.as_ref().map(|c| &c.standing),
    });
    let action = match decision {
        Decision::Blocked(reason, message) => {
            return Ok(Outcome::Failed(Failed::new(reason, message, Then::Resync)))
        }
        Decision::Paused => {
            let prefix = &obj.spec.ecr_repository_prefix;
            let exists = o.rules.iter().any(|r| &r.prefix == prefix);
            return Ok(plan::held(prefix, exists));
        }
        Decision::Act(a) => a,
    };
    // Claimed before any mutation: of two objects acting at once, one
    // wins the claim and the other makes no call.
    take_claim(obj, ctx, &o.claim, &o.me).await?;
    act(obj, ctx, clients, &o, &action).await?;
    if let Some(old) = &o.old_claim {
        // The old prefix's rule is gone (or another object's): its claim
        // goes with it.
        ctx.claims.release(&old.key, &o.me).await?;
    }
    let next = report(obj, ctx, clients, prev, o.rules, &action).await?;
    Ok(Outcome::status(next, Then::Resync))
}

/// The one rule mutation the plan chose, and its Event.
async fn act(
    obj: &PullThroughCache,
    ctx: &Context,
    clients: &Clients,
    o: &Observed,
    action: &RuleAction,
) -> Result<()> {
    let registry = obj.spec.registry_id.as_deref();
    let (reason, aws_action) = match action {
        RuleAction::Nothing => return Ok(()),
        RuleAction::Create(r) => {
            ecr::create_rule(clients, r).await?;
            ("RuleCreated", "CreatePullThroughCacheRule")
        }
        RuleAction::Replace { delete, create, .. } => {
            // The old prefix's rule: claimed too while it goes.
            if let Some(old) = o
                .old_claim
                .as_ref()
                .filter(|_| o.old_prefix.as_ref() == Some(delete))
            {
                take_claim(obj, ctx, old, &o.me).await?;
            }
            ecr::delete_rule(clients, delete, registry).await?;
            if let Some(r) = create {
                ecr::create_rule(clients, r).await?;
            }
            ("RuleReplaced", "DeletePullThroughCacheRule")
        }
        RuleAction::Update(r) => {
            ecr::update_rule(clients, r).await?;
            ("RuleUpdated", "UpdatePullThroughCacheRule")
        }
    };
    let note = action.describe();
    ctx.event(obj, EventType::Normal, reason, aws_action, note)
        .await;
    Ok(())
}

/// What ECR says of the rule now: its validation, and every other rule,
/// template and repository that decides what pulls through the prefix.
async fn report(
    obj: &PullThroughCache,
    ctx: &Context,
    clients: &Clients,
    prev: &PullThroughCacheStatus,
    rules: Vec<ecr::RuleView>,
    action: &RuleAction,
) -> Result<PullThroughCacheStatus> {
    let prefix = &obj.spec.ecr_repository_prefix;
    let registry = obj.spec.registry_id.as_deref();
    let verdict = ecr::validate_rule(clients, prefix, registry).await?;
    // Observed after the mutation, so a fresh rule's creation time counts.
    let rules = match action {
        RuleAction::Nothing => rules,
        _ => ecr::rules(clients, registry).await?,
    };
    let rule = rules.iter().find(|r| &r.prefix == prefix);
    let first_rule = plan::first_rule_created_at(prev, prefix, rule);
    let templates = ecr::templates(clients).await?;
    let repos = observe_repositories(clients, prefix, registry, first_rule).await?;
    let recorded_until = record_repositories(obj, ctx, clients, prev, &repos, first_rule).await?;
    let unmanaged = repositories::unmanaged(prefix, &repos, first_rule);
    let diagnosis = plan::diagnose(prefix, &rules, &templates, unmanaged);
    let next = plan::status(&plan::Report {
        obj,
        prev,
        rule,
        first_rule,
        verdict: &verdict,
        diagnosis: &diagnosis,
        recorded_until,
        now: k8s_openapi::jiff::Timestamp::now(),
    });
    // A warning (or an invalid rule) gets one Event when it first appears
    // or changes, not one per resync.
    if let Some(d) = plan::news(prev, &next) {
        ctx.event(
            obj,
            EventType::Warning,
            &d.reason,
            "ValidatePullThroughCacheRule",
            d.message.clone(),
        )
        .await;
    }
    Ok(next)
}

/// The repositories under the prefix, with berth's record tag read for
/// those the creation time does not show to be the cache's.
async fn observe_repositories(
    clients: &Clients,
    prefix: &str,
    registry: Option<&str>,
    first_rule: Option<f64>,
) -> Result<Vec<ecr::RepositoryView>> {
    let mut repos = ecr::repositories_under(clients, prefix, registry).await?;
    let older: Vec<String> = repositories::to_read(&repos, first_rule)
        .into_iter()
        .map(|r| r.arn.clone())
        .collect();
    for r in repos.iter_mut().filter(|r| older.contains(&r.arn)) {
        r.recorded_for = ecr::repository_tag(clients, &r.arn, TAG_PULL_THROUGH_CACHE).await?;
    }
    Ok(repos)
}

/// Tags the cache's repositories not recorded yet (one Event for them
/// all); `status.repositoriesRecordedUntil` after it.
async fn record_repositories(
    obj: &PullThroughCache,
    ctx: &Context,
    clients: &Clients,
    prev: &PullThroughCacheStatus,
    repos: &[ecr::RepositoryView],
    first_rule: Option<f64>,
) -> Result<Option<String>> {
    let prefix = &obj.spec.ecr_repository_prefix;
    // A new prefix starts its record again.
    let until = prev
        .repositories_recorded_until
        .as_deref()
        .filter(|_| prev.ecr_repository_prefix.as_ref() == Some(prefix));
    let new = repositories::to_record(repos, first_rule, until);
    if new.is_empty() {
        return Ok(until.map(str::to_string));
    }
    for r in &new {
        ecr::tag_repository(clients, &r.arn, TAG_PULL_THROUGH_CACHE, prefix).await?;
    }
    let note = repositories::recorded_note(prefix, &new);
    ctx.event(
        obj,
        EventType::Normal,
        "RepositoriesRecorded",
        "TagResource",
        note,
    )
    .await;
    Ok(repositories::recorded_until(until, &new))
}

/// The prefix of the rule status records as berth's.
fn recorded_prefix(obj: &PullThroughCache) -> Option<String> {
    obj.status
        .as_ref()
        .and_then(|s| s.ecr_repository_prefix.clone())
}

/// Retain: nothing in AWS changes; the claims go. Without AWS (no region,
/// STS down) a claim stays behind, stale, for the next claimant to take
/// over.
async fn retain(obj: &PullThroughCache, ctx: &Context) {
    let Some(prefix) = recorded_prefix(obj) else {
        return;
    };
    let released = async {
        let me = holder(obj)?;
        let clients = ctx.aws_for(&obj.namespace().unwrap_or_default()).await?;
        release_claims(obj, ctx, &clients, &me, &prefix).await
    };
    if let Err(e) = released.await {
        tracing::warn!(error = %e, prefix, "releasing the claim of a retained pull-through cache rule failed; it stays until another object takes it over");
    }
}

/// Delete removes the rule this object owns; a rule whose prefix another
/// existing object claims is never deleted. The claim is released last,
/// once the rule is gone.
async fn delete(obj: &PullThroughCache, ctx: &Context, clients: &Clients) -> Result<Deleted> {
    let Some(prefix) = recorded_prefix(obj) else {
        return Ok(Deleted::Gone);
    };
    let me = holder(obj)?;
    let claim = observe_claim(obj, ctx, clients, &me, &prefix).await?;
    if let Standing::Taken(owner) = &claim.standing {
        ctx.event(
            obj,
            EventType::Normal,
            "RuleLeft",
            "Delete",
            format!(
                "the pull-through cache rule {prefix} belongs to {owner}: left in ECR as it is"
            ),
        )
        .await;
        release_claims(obj, ctx, clients, &me, &prefix).await?;
        return Ok(Deleted::Gone);
    }
    // Unclaimed (an object from before claims) or stale: claimed for the
    // delete, so nobody takes the prefix while the rule goes.
    take_claim(obj, ctx, &claim, &me).await?;
    ecr::delete_rule(clients, &prefix, obj.spec.registry_id.as_deref()).await?;
    ctx.event(
        obj,
        EventType::Normal,
        "RuleDeleted",
        "DeletePullThroughCacheRule",
        format!("deleted the pull-through cache rule {prefix}"),
    )
    .await;
    release_claims(obj, ctx, clients, &me, &prefix).await?;
    Ok(Deleted::Gone)
}

/// The claimant: this object (it has a uid once the API server stored it).
fn holder(obj: &PullThroughCache) -> Result<Holder> {
    Holder::of(obj).ok_or_else(|| Error::StaleRead("the object has no uid yet".into()))
}

/// The claim of `prefix` in the registry's account and region: the
/// account is `spec.registryId`, else the one the target's credentials
/// act in (STS, asked once per target).
async fn observe_claim(
    obj: &PullThroughCache,
    ctx: &Context,
    clients: &Clients,
    me: &Holder,
    prefix: &str,
) -> Result<claims::Observed> {
    let key = claim_key(obj, clients, prefix).await?;
    let caches = &ctx.stores.caches;
    let watched = ctx.watch_namespace();
    Ok(ctx
        .claims
        .observe(key, me, |h| claims::exists_in(caches, watched, h))
        .await?)
}

/// The claims' kind: pull-through cache rule prefixes.
const CLAIM_KIND: &str = "ptc";

async fn claim_key(obj: &PullThroughCache, clients: &Clients, prefix: &str) -> Result<claims::Key> {
    let account = match &obj.spec.registry_id {
        Some(id) => id.clone(),
        None => sts::account(clients).await?,
    };
    Ok(claims::Key::new(
        CLAIM_KIND,
        &[
            ("account", &account),
            ("region", &clients.target.region),
            ("prefix", prefix),
        ],
    ))
}

/// Takes a claim observed free or stale (held already: nothing to do);
/// another claimant winning meanwhile ends the reconcile before any AWS
/// change, and the next one reports the Conflict.
async fn take_claim(
    obj: &PullThroughCache,
    ctx: &Context,
    claim: &claims::Observed,
    me: &Holder,
) -> Result<()> {
    match ctx.claims.take(claim, me).await? {
        claims::Taken::Held(None) => Ok(()),
        claims::Taken::Held(Some(former)) => {
            let former = Holder::parse(&former)
                .map(|h| h.to_string())
                .unwrap_or_else(|| "no object".into());
            ctx.event(
                obj,
                EventType::Normal,
                "ClaimTakenOver",
                "Claim",
                format!(
                    "took over the claim of the pull-through cache prefix ({}) from {former}, which no longer exists",
                    claim.key.readable()
                ),
            )
            .await;
            Ok(())
        }
        claims::Taken::Lost => Err(Error::StaleRead(format!(
            "another object claimed the pull-through cache prefix ({}) meanwhile",
            claim.key.readable()
        ))),
    }
}

/// Gives up the claims of `prefix` (the recorded rule's) and of the spec's
/// prefix, if they differ, where this object holds them.
async fn release_claims(
    obj: &PullThroughCache,
    ctx: &Context,
    clients: &Clients,
    me: &Holder,
    prefix: &str,
) -> Result<()> {
    ctx.claims
        .release(&claim_key(obj, clients, prefix).await?, me)
        .await?;
    let wanted = &obj.spec.ecr_repository_prefix;
    if wanted != prefix {
        ctx.claims
            .release(&claim_key(obj, clients, wanted).await?, me)
            .await?;
    }
    Ok(())
}
