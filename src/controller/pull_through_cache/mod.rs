//! Reconciliation of `PullThroughCache`: validate, observe ECR (every rule,
//! templates, repositories under the prefix), plan the one rule mutation,
//! act, validate the rule with ECR, write status once.

pub mod plan;
#[cfg(test)]
mod plan_tests;

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{finalizer, Event as Finalizer};
use kube::{Api, ResourceExt};

use super::claims::{self, Holder, Standing};
use super::context::{is_paused, Context, FINALIZER};
use super::error::{Error, Result};
use super::status;
use crate::api::common::DeletionPolicy;
use crate::api::conditions::{self, Reason, DEGRADED};
use crate::api::pull_through_cache::{PullThroughCache, PullThroughCacheStatus};
use crate::api::roles::PassesRoles;
use crate::aws::{ecr, sts, Clients, FailureKind};
use plan::{Decision, RuleAction};

pub async fn reconcile(obj: Arc<PullThroughCache>, ctx: Arc<Context>) -> Result<Action> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<PullThroughCache> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => apply(&obj, &ctx, &api).await,
            Finalizer::Cleanup(obj) => cleanup(&obj, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

async fn apply(
    obj: &PullThroughCache,
    ctx: &Context,
    api: &Api<PullThroughCache>,
) -> Result<Action> {
    let prev = obj.status.clone().unwrap_or_default();
    if let Err(invalid) = obj.spec.validate() {
        status::write_failed(
            ctx,
            api,
            obj,
            &prev,
            Reason::InvalidSpec,
            &invalid.to_string(),
        )
        .await?;
        return Ok(Action::await_change());
    }
    let namespace = obj.namespace().unwrap_or_default();
    let clients = match ctx.aws_passing(&namespace, &obj.passed_roles()).await {
        Ok(c) => c,
        Err(e) => match e.refusal() {
            // The namespace's annotations decide; they are read again at
            // the next resync (or any change of the object).
            Some((reason, message)) => {
                status::write_failed(ctx, api, obj, &prev, reason, &message).await?;
                return Ok(Action::requeue(ctx.resync));
            }
            None => return Err(e),
        },
    };
    match converge(obj, ctx, api, &clients, &prev).await {
        Ok(action) => Ok(action),
        Err(Error::Aws(f)) if f.kind == FailureKind::Terminal => {
            status::write_failed(ctx, api, obj, &prev, Reason::AwsError, &f.to_string()).await?;
            Ok(Action::requeue(ctx.resync))
        }
        Err(e) => Err(e),
    }
}

async fn converge(
    obj: &PullThroughCache,
    ctx: &Context,
    api: &Api<PullThroughCache>,
    clients: &Clients,
    prev: &PullThroughCacheStatus,
) -> Result<Action> {
    let spec = &obj.spec;
    let registry = spec.registry_id.as_deref();
    let prefix = spec.ecr_repository_prefix.clone();
    let rules = ecr::rules(clients, registry).await?;
    let paused = is_paused(obj.annotations());
    let me = holder(obj)?;
    let claim = observe_claim(obj, ctx, clients, &me, &prefix).await?;
    // The prefix status records, when the spec moved away from it.
    let old_prefix = prev
        .ecr_repository_prefix
        .clone()
        .filter(|old| *old != prefix);
    let old_claim = match &old_prefix {
        Some(old) => Some(observe_claim(obj, ctx, clients, &me, old).await?),
        None => None,
    };
    let decision = plan::decide(&plan::Inputs {
        obj,
        rules: &rules,
        paused,
        claim: &claim.standing,
        old_claim: old_claim.as_ref().map(|c| &c.standing),
    });
    if matches!(decision, Decision::Act(_)) {
        // Claimed before any mutation: of two objects acting at once, one
        // wins the claim and the other makes no call.
        take_claim(obj, ctx, &claim, &me).await?;
    }
    let action = match decision {
        Decision::Blocked(reason, message) => {
            status::write_failed(ctx, api, obj, prev, reason, &message).await?;
            return Ok(Action::requeue(ctx.resync));
        }
        Decision::Paused => {
            let exists = rules.iter().any(|r| r.prefix == prefix);
            status::write_conditions(api, obj, prev, &plan::paused_conditions(exists)).await?;
            return Ok(Action::requeue(ctx.resync));
        }
        Decision::Act(a) => a,
    };
    match &action {
        RuleAction::Nothing => {}
        RuleAction::Create(r) => {
            ecr::create_rule(clients, r).await?;
            ctx.event(
                obj,
                EventType::Normal,
                "RuleCreated",
                "CreatePullThroughCacheRule",
                format!(
                    "created the pull-through cache rule {} -> {}",
                    r.prefix, r.upstream_url
                ),
            )
            .await;
        }
        RuleAction::Replace {
            delete,
            create,
            changed,
        } => {
            // The old prefix's rule: claimed too while it goes.
            if let Some(old) = old_claim
                .as_ref()
                .filter(|_| old_prefix.as_ref() == Some(delete))
            {
                take_claim(obj, ctx, old, &me).await?;
            }
            ecr::delete_rule(clients, delete, registry).await?;
            if let Some(r) = create {
                ecr::create_rule(clients, r).await?;
            }
            let created = match create {
                Some(r) => format!(" and created {} -> {}", r.prefix, r.upstream_url),
                None => String::new(),
            };
            ctx.event(
                obj,
                EventType::Normal,
                "RuleReplaced",
                "DeletePullThroughCacheRule",
                format!(
                    "{} cannot be updated in place and spec.replaceOnImmutableChange is true: deleted the pull-through cache rule {delete}{created}",
                    changed.join(" and ")
                ),
            )
            .await;
        }
        RuleAction::Update(r) => {
            ecr::update_rule(clients, r).await?;
            ctx.event(
                obj,
                EventType::Normal,
                "RuleUpdated",
                "UpdatePullThroughCacheRule",
                format!(
                    "updated credentialArn/customRoleArn of the pull-through cache rule {}",
                    r.prefix
                ),
            )
            .await;
        }
    }
    if let Some(old) = &old_claim {
        // The old prefix's rule is gone (or another object's): its claim
        // goes with it.
        ctx.claims.release(&old.key, &me).await?;
    }
    let verdict = ecr::validate_rule(clients, &prefix, registry).await?;
    // Observed after the mutation, so a fresh rule's creation time counts.
    let rules = match action {
        RuleAction::Nothing => rules,
        _ => ecr::rules(clients, registry).await?,
    };
    let rule = rules.iter().find(|r| r.prefix == prefix);
    let first_rule = plan::first_rule_created_at(prev, &prefix, rule);
    let templates = ecr::templates(clients).await?;
    let repositories = ecr::repositories_under(clients, &prefix, registry, first_rule).await?;
    let diagnosis = plan::diagnose(&prefix, &rules, &templates, &repositories);
    let desired = plan::conditions(&prefix, &verdict, &diagnosis);

    // A warning (or an invalid rule) gets one Event when it first appears
    // or changes, not one per resync.
    let known = |d: &&conditions::Desired| {
        conditions::find(&prev.conditions, DEGRADED)
            .is_some_and(|c| c.reason == d.reason.as_str() && c.message == d.message)
    };
    let warn_now = desired
        .iter()
        .find(|d| d.type_ == DEGRADED && d.reason != Reason::AsExpected)
        .filter(|d| !known(d));
    if let Some(d) = warn_now {
        ctx.event(
            obj,
            EventType::Warning,
            d.reason.as_str(),
            "ValidatePullThroughCacheRule",
            d.message.clone(),
        )
        .await;
    }
    let generation = obj.metadata.generation;
    let next = PullThroughCacheStatus {
        observed_generation: generation,
        conditions: conditions::merge(
            &prev.conditions,
            &desired,
            generation,
            k8s_openapi::jiff::Timestamp::now(),
        ),
        registry_id: rule.and_then(|r| r.registry_id.clone()),
        ecr_repository_prefix: Some(prefix.clone()),
        first_rule_created_at: first_rule.and_then(plan::timestamp),
        valid: Some(verdict.valid),
        validation_failure: verdict.failure.clone(),
        conflicts: diagnosis.conflicts(),
    };
    if next != *prev {
        status::apply(api, obj, &next).await?;
    }
    Ok(Action::requeue(ctx.resync))
}

/// Delete removes the rule this object owns; Retain keeps it; a rule
/// whose prefix another existing object claims is never deleted. The
/// claim is released last, once the rule is gone or retained.
async fn cleanup(obj: &PullThroughCache, ctx: &Context) -> Result<Action> {
    let prev = obj.status.clone().unwrap_or_default();
    let Some(prefix) = prev.ecr_repository_prefix.clone() else {
        // berth never recorded a rule: nothing of ours exists (a claim
        // taken just before a failed status write is stale once this
        // object is gone, and the next claimant takes it over).
        return Ok(Action::await_change());
    };
    let me = holder(obj)?;
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        ctx.event(
            obj,
            EventType::Normal,
            "RuleRetained",
            "Delete",
            format!("deletionPolicy Retain: the pull-through cache rule {prefix} stays in ECR"),
        )
        .await;
        // Nothing in AWS changes: without AWS (no region, STS down) the
        // claim stays behind, stale, for the next claimant to take over.
        let released = async {
            let clients = ctx.aws_for(&obj.namespace().unwrap_or_default()).await?;
            release_claims(obj, ctx, &clients, &me, &prefix).await
        };
        if let Err(e) = released.await {
            tracing::warn!(error = %e, prefix, "releasing the claim of a retained pull-through cache rule failed; it stays until another object takes it over");
        }
        return Ok(Action::await_change());
    }
    let left = format!("the pull-through cache rule {prefix}");
    let Some(clients) = ctx.aws_for_cleanup(obj, &left).await? else {
        return Ok(Action::await_change());
    };
    let claim = observe_claim(obj, ctx, &clients, &me, &prefix).await?;
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
        release_claims(obj, ctx, &clients, &me, &prefix).await?;
        return Ok(Action::await_change());
    }
    // Unclaimed (an object from before claims) or stale: claimed for the
    // delete, so nobody takes the prefix while the rule goes.
    take_claim(obj, ctx, &claim, &me).await?;
    ecr::delete_rule(&clients, &prefix, obj.spec.registry_id.as_deref()).await?;
    ctx.event(
        obj,
        EventType::Normal,
        "RuleDeleted",
        "DeletePullThroughCacheRule",
        format!("deleted the pull-through cache rule {prefix}"),
    )
    .await;
    release_claims(obj, ctx, &clients, &me, &prefix).await?;
    Ok(Action::await_change())
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
