//! Table tests of the PullThroughCache plan: every action and reason, from
//! the example object and rules as DescribePullThroughCacheRules reports
//! them. `Desired::new` checks every message these produce.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::plan::{
    conditions, decide, diagnose, first_rule_created_at, held, overlaps, request, timestamp,
    Decision, Inputs, RuleAction,
};
use crate::api::conditions::{Desired, Reason, DEGRADED, READY};
use crate::api::pull_through_cache::{PullThroughCache, PullThroughCacheStatus, UpstreamRegistry};
use crate::aws::ecr::{RuleView, TemplateView, Verdict};
use crate::controller::claims::{Holder, Standing};
use crate::controller::shell::{paused, Outcome, Then};

const BORN: i64 = 1_800_000_000;
const CRED: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf";

pub(super) fn example(recorded: bool) -> PullThroughCache {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/pull-through-cache.yaml"
    ))
    .unwrap();
    let mut obj: PullThroughCache = serde_yaml::from_str(&text).unwrap();
    obj.metadata.namespace = Some("shop".into());
    obj.metadata.creation_timestamp = Some(Time(Timestamp::from_second(BORN).unwrap()));
    obj.status = recorded.then(|| PullThroughCacheStatus {
        ecr_repository_prefix: Some("docker-hub".into()),
        ..Default::default()
    });
    obj
}

fn rule(prefix: &str, created: i64) -> RuleView {
    RuleView {
        prefix: prefix.into(),
        upstream_url: "registry-1.docker.io".into(),
        credential_arn: Some(CRED.into()),
        created_at: Some(created as f64),
        ..Default::default()
    }
}

fn run(obj: &PullThroughCache, rules: &[RuleView]) -> Decision {
    claimed(obj, rules, &Standing::Free)
}

fn claimed(obj: &PullThroughCache, rules: &[RuleView], claim: &Standing) -> Decision {
    decide(&Inputs {
        obj,
        rules,
        paused: false,
        claim,
        old_claim: None,
    })
}

fn blocked(d: Decision) -> Reason {
    match d {
        Decision::Blocked(r, _) => r,
        other => panic!("not blocked: {other:?}"),
    }
}

fn reason_of(c: &[Desired], type_: &str) -> (bool, Reason) {
    let c = c.iter().find(|c| c.type_ == type_).unwrap();
    (c.status, c.reason)
}

#[test]
fn the_example_is_valid_and_a_missing_rule_is_created() {
    let obj = example(false);
    obj.spec.validate().unwrap();
    let Decision::Act(RuleAction::Create(r)) = run(&obj, &[rule("other", BORN)]) else {
        panic!("expected a create");
    };
    assert_eq!(r.prefix, "docker-hub");
    assert_eq!(r.upstream_registry, "docker-hub");
    assert_eq!(r.upstream_url, "registry-1.docker.io");
    assert_eq!(r.credential_arn.as_deref(), Some(CRED));
}

#[test]
fn an_owned_matching_rule_needs_nothing() {
    let obj = example(true);
    assert_eq!(
        run(&obj, &[rule("docker-hub", BORN - 100)]),
        Decision::Act(RuleAction::Nothing)
    );
}

#[test]
fn a_lost_create_response_is_recognised_not_adopted() {
    // Not recorded in status, but identical and younger than the object.
    let obj = example(false);
    assert_eq!(
        run(&obj, &[rule("docker-hub", BORN + 5)]),
        Decision::Act(RuleAction::Nothing)
    );
}

#[test]
fn someone_elses_rule_needs_adoption() {
    let obj = example(false);
    assert_eq!(
        blocked(run(&obj, &[rule("docker-hub", BORN - 100)])),
        Reason::AdoptionRequired
    );
    let mut other = rule("docker-hub", BORN + 5);
    other.credential_arn = None;
    assert_eq!(
        blocked(run(&obj, &[other.clone()])),
        Reason::AdoptionRequired
    );
    // spec.adopt takes it over: it is brought to the spec in place.
    let mut adopting = example(false);
    adopting.spec.adopt = true;
    assert_eq!(
        run(&adopting, &[rule("docker-hub", BORN - 100)]),
        Decision::Act(RuleAction::Nothing)
    );
    assert!(matches!(
        run(&adopting, &[other]),
        Decision::Act(RuleAction::Update(_))
    ));
}

#[test]
fn credential_and_role_are_updated_in_place() {
    let obj = example(true);
    let mut r = rule("docker-hub", BORN);
    r.credential_arn = Some(CRED.replace("AbCdEf", "Old123"));
    let Decision::Act(RuleAction::Update(u)) = run(&obj, &[r]) else {
        panic!("expected an update");
    };
    assert_eq!(u.credential_arn.as_deref(), Some(CRED));
}

#[test]
fn other_changes_are_immutable() {
    let obj = example(true);
    let mut r = rule("docker-hub", BORN);
    r.upstream_url = "quay.io".into();
    assert_eq!(blocked(run(&obj, &[r])), Reason::ImmutableFieldChanged);
    let mut r = rule("docker-hub", BORN);
    r.upstream_repository_prefix = Some("library".into());
    assert_eq!(blocked(run(&obj, &[r])), Reason::ImmutableFieldChanged);

    let mut moved = example(true);
    moved.spec.ecr_repository_prefix = "hub".into();
    assert_eq!(
        blocked(run(&moved, &[rule("docker-hub", BORN)])),
        Reason::ImmutableFieldChanged
    );
}

#[test]
fn paused_changes_nothing() {
    let obj = example(false);
    let d = decide(&Inputs {
        obj: &obj,
        rules: &[],
        paused: true,
        claim: &Standing::Free,
        old_claim: None,
    });
    assert_eq!(d, Decision::Paused);
    // The shell reports it: Ready says whether the rule exists.
    for exists in [false, true] {
        let got = paused(
            "PullThroughCache",
            &PullThroughCacheStatus::default(),
            held("docker-hub", exists),
            Some(1),
            Timestamp::UNIX_EPOCH,
        );
        let Outcome::Conditions(conditions, Then::Resync) = got else {
            panic!("{got:?}");
        };
        assert_eq!(reason_of(&conditions, READY), (exists, Reason::Paused));
        assert_eq!(reason_of(&conditions, DEGRADED), (false, Reason::Paused));
        assert!(conditions[0].message.contains("rule for prefix docker-hub"));
    }
}

#[test]
fn invalid_specs_are_caught_before_any_call() {
    let mut obj = example(false);
    obj.spec.credential_arn = None;
    assert!(obj
        .spec
        .validate()
        .unwrap_err()
        .to_string()
        .contains("spec.credentialArn"));
    obj.spec.credential_arn =
        Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:docker-hub".into());
    assert!(obj.spec.validate().is_err());
    let ecr: PullThroughCache = serde_yaml::from_str(
        "apiVersion: berth.dev/v1alpha1\nkind: PullThroughCache\nmetadata: {name: x}\nspec:\n  ecrRepositoryPrefix: upstream\n  upstreamRegistry: ecr\n  upstreamRegistryUrl: 111111111111.dkr.ecr.us-east-1.amazonaws.com\n",
    )
    .unwrap();
    assert!(ecr
        .spec
        .validate()
        .unwrap_err()
        .to_string()
        .contains("spec.customRoleArn"));
}

const VALID: Verdict = Verdict {
    valid: true,
    failure: None,
};

#[test]
fn a_valid_rule_without_problems_is_ready() {
    let d = diagnose("docker-hub", &[rule("docker-hub", BORN)], &[], vec![]);
    let c = conditions("docker-hub", &VALID, &d);
    assert_eq!(reason_of(&c, READY), (true, Reason::RuleReady));
    assert_eq!(reason_of(&c, DEGRADED), (false, Reason::AsExpected));
    assert!(d.conflicts().is_empty());
}

#[test]
fn an_invalid_rule_is_degraded_with_ecrs_failure() {
    let v = Verdict {
        valid: false,
        failure: Some("Unable to retrieve the secret".into()),
    };
    let c = conditions("docker-hub", &v, &Default::default());
    assert_eq!(reason_of(&c, READY), (false, Reason::RuleInvalid));
    assert_eq!(reason_of(&c, DEGRADED), (true, Reason::RuleInvalid));
    assert!(c[2].message.contains("Unable to retrieve the secret"));
}

#[test]
fn the_incident_is_diagnosed() {
    let rules = [
        rule("docker-hub", BORN),
        rule("docker-hub/tonys-chips/api", BORN),
        rule("quay", BORN),
    ];
    let template = |prefix: &str, for_cache| TemplateView {
        prefix: prefix.into(),
        for_cache,
    };
    // A template only for replication or create-on-push never shapes the
    // cache's repositories.
    let templates = [
        template("docker-hub", true),
        template("other", true),
        template("docker-hub/mirror", false),
    ];
    let repos = vec!["docker-hub/tonys-chips/web".to_string()];
    let d = diagnose("docker-hub", &rules, &templates, repos.clone());
    assert_eq!(d.other_rules, ["docker-hub/tonys-chips/api"]);
    assert_eq!(d.templates, ["docker-hub"]);
    assert_eq!(d.unmanaged, ["docker-hub/tonys-chips/web"]);
    assert_eq!(
        d.conflicts(),
        ["rule/docker-hub/tonys-chips/api", "template/docker-hub"]
    );
    let c = conditions("docker-hub", &VALID, &d);
    assert_eq!(reason_of(&c, READY), (true, Reason::PrefixOverlap));
    assert_eq!(reason_of(&c, DEGRADED), (false, Reason::PrefixOverlap));
    for name in [
        "docker-hub/tonys-chips/api",
        "template",
        "docker-hub/tonys-chips/web",
    ] {
        assert!(c[0].message.contains(name), "{name}: {}", c[0].message);
    }

    let only_template = diagnose("docker-hub", &rules[..1], &templates, vec![]);
    let c = conditions("docker-hub", &VALID, &only_template);
    assert_eq!(reason_of(&c, READY), (true, Reason::TemplateOverlap));
    let only_repos = diagnose("docker-hub", &rules[..1], &[], repos);
    let c = conditions("docker-hub", &VALID, &only_repos);
    assert_eq!(reason_of(&c, READY), (true, Reason::UnmanagedRepositories));
    // What berth knows, not more: the repository is older than the rule.
    for says in [
        "created before the cache rule existed",
        "delete them if they were made by hand",
    ] {
        assert!(c[0].message.contains(says), "{says}: {}", c[0].message);
    }
}

#[test]
fn replace_on_immutable_change_deletes_then_creates() {
    let mut obj = example(true);
    obj.spec.replace_on_immutable_change = true;
    let mut r = rule("docker-hub", BORN);
    r.upstream_url = "quay.io".into();
    r.upstream_registry = Some("quay".into());
    let Decision::Act(RuleAction::Replace {
        delete,
        create,
        changed,
    }) = run(&obj, &[r])
    else {
        panic!("expected a replace");
    };
    assert_eq!(delete, "docker-hub");
    assert_eq!(create, Some(request(&obj.spec)));
    assert_eq!(changed, ["upstreamRegistry", "upstreamRegistryUrl"]);
    // Without the flag the same change is refused, naming the flag.
    obj.spec.replace_on_immutable_change = false;
    let mut r = rule("docker-hub", BORN);
    r.upstream_repository_prefix = Some("library".into());
    let Decision::Blocked(Reason::ImmutableFieldChanged, message) = run(&obj, &[r]) else {
        panic!("expected ImmutableFieldChanged");
    };
    assert!(message.contains("replaceOnImmutableChange"), "{message}");
}

#[test]
fn a_new_prefix_replaces_the_old_rule() {
    let mut moved = example(true);
    moved.spec.ecr_repository_prefix = "hub".into();
    moved.spec.replace_on_immutable_change = true;
    let old = rule("docker-hub", BORN);
    assert_eq!(
        run(&moved, std::slice::from_ref(&old)),
        Decision::Act(RuleAction::Replace {
            delete: "docker-hub".into(),
            create: Some(request(&moved.spec)),
            changed: vec!["ecrRepositoryPrefix"],
        })
    );
    // Stopped after the delete: the create is all that is left.
    assert!(matches!(
        run(&moved, &[]),
        Decision::Act(RuleAction::Create(_))
    ));
    // Created, but the response was lost: the old rule is all that is left.
    assert_eq!(
        run(&moved, &[old, rule("hub", BORN + 5)]),
        Decision::Act(RuleAction::Replace {
            delete: "docker-hub".into(),
            create: None,
            changed: vec!["ecrRepositoryPrefix"],
        })
    );
    assert_eq!(
        run(&moved, &[rule("hub", BORN + 5)]),
        Decision::Act(RuleAction::Nothing)
    );
}

#[test]
fn an_adopted_credential_the_spec_leaves_out_is_not_updated_every_resync() {
    // UpdatePullThroughCacheRule cannot remove a credential: sending the
    // spec's none would change nothing, on every resync.
    let mut obj = example(false);
    obj.spec.upstream_registry = UpstreamRegistry::Quay;
    obj.spec.credential_arn = None;
    obj.spec.adopt = true;
    let mut r = rule("docker-hub", BORN - 100);
    r.upstream_url = "quay.io".into();
    assert_eq!(run(&obj, &[r.clone()]), Decision::Act(RuleAction::Nothing));
    // A credential the spec names and the rule lacks is set in place.
    obj.spec.credential_arn = Some(CRED.into());
    r.credential_arn = None;
    assert!(matches!(
        run(&obj, &[r]),
        Decision::Act(RuleAction::Update(_))
    ));
}

#[test]
fn the_first_rules_creation_time_outlives_a_re_created_rule() {
    let mut prev = PullThroughCacheStatus {
        ecr_repository_prefix: Some("docker-hub".into()),
        ..Default::default()
    };
    let first = rule("docker-hub", BORN);
    let at = first_rule_created_at(&prev, "docker-hub", Some(&first)).unwrap();
    assert_eq!(at, BORN as f64);
    prev.first_rule_created_at = timestamp(at);
    // Deleted and created again later: repositories the first rule's cache
    // created since BORN stay the cache's.
    let again = rule("docker-hub", BORN + 600);
    assert_eq!(
        first_rule_created_at(&prev, "docker-hub", Some(&again)),
        Some(BORN as f64)
    );
    assert_eq!(
        first_rule_created_at(&prev, "docker-hub", None),
        Some(BORN as f64)
    );
    // A new prefix starts again from its own rule.
    let hub = rule("hub", BORN + 900);
    assert_eq!(
        first_rule_created_at(&prev, "hub", Some(&hub)),
        Some((BORN + 900) as f64)
    );
}

#[test]
fn overlap_is_by_path_segment() {
    assert!(overlaps("docker-hub", "docker-hub/library"));
    assert!(overlaps("ROOT", "quay"));
    assert!(overlaps("a/b", "a/b"));
    assert!(!overlaps("docker", "docker-hub"));
    assert!(!overlaps("quay", "docker-hub"));
}

fn team_a() -> Standing {
    Standing::Taken(Holder::parse("PullThroughCache/team-a/docker-hub/uid-a").unwrap())
}

#[test]
fn a_prefix_claimed_by_another_existing_object_is_a_conflict_whatever_the_spec_says() {
    // (what this object asks, the rules ECR has): never an action while
    // team-a's object holds the claim.
    let plain = example(false);
    let recorded = example(true);
    let mut adopting = example(false);
    adopting.spec.adopt = true;
    let mut paused_adopting = adopting.clone();
    paused_adopting
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert("berth.dev/paused".into(), "true".into());
    let mut credential = example(true);
    credential.spec.credential_arn = Some(CRED.replace("AbCdEf", "Other1"));
    let mut replacing = example(true);
    replacing.spec.replace_on_immutable_change = true;
    replacing.spec.upstream_registry = UpstreamRegistry::Quay;
    let older = rule("docker-hub", BORN - 100);
    let younger = rule("docker-hub", BORN + 5);
    let cases: Vec<(&str, &PullThroughCache, Vec<RuleView>)> = vec![
        ("no rule yet", &plain, vec![]),
        (
            "a rule identical and younger",
            &plain,
            vec![younger.clone()],
        ),
        ("adopt: true", &adopting, vec![older.clone()]),
        ("adopt: true, no rule", &adopting, vec![]),
        ("status records the prefix", &recorded, vec![older.clone()]),
        ("another credential", &credential, vec![older.clone()]),
        ("replaceOnImmutableChange", &replacing, vec![older.clone()]),
        ("paused, adopt: true", &paused_adopting, vec![older.clone()]),
    ];
    for (what, obj, rules) in cases {
        let paused = crate::controller::context::is_paused(
            obj.metadata
                .annotations
                .as_ref()
                .unwrap_or(&Default::default()),
        );
        let d = decide(&Inputs {
            obj,
            rules: &rules,
            paused,
            claim: &team_a(),
            old_claim: None,
        });
        let Decision::Blocked(Reason::Conflict, message) = d else {
            panic!("{what}: expected Conflict, got {d:?}");
        };
        // As status shows it (`Desired::new` checks the message reads well).
        let shown = crate::api::conditions::failed(Reason::Conflict, message.clone());
        assert_eq!(reason_of(&shown, DEGRADED), (true, Reason::Conflict));
        for names in [
            "team-a/docker-hub",
            "docker-hub",
            "spec.adopt cannot take it over",
            "deletionPolicy: Retain",
        ] {
            assert!(message.contains(names), "{what}: {names}: {message}");
        }
    }
}

#[test]
fn the_claim_holder_owns_the_rule_and_a_free_or_stale_claim_falls_back_to_adoption() {
    let older = rule("docker-hub", BORN - 100);
    let stale = Standing::Stale("PullThroughCache/team-a/docker-hub/uid-a".into());
    let mut adopting = example(false);
    adopting.spec.adopt = true;
    let mut other_credential = older.clone();
    other_credential.credential_arn = Some(CRED.replace("AbCdEf", "Other1"));
    // (claim, object, rules) => decision
    let cases: Vec<(&str, Standing, PullThroughCache, Vec<RuleView>, Decision)> = vec![
        (
            "owner: the rule is its own even before status records it",
            Standing::Mine,
            example(false),
            vec![older.clone()],
            Decision::Act(RuleAction::Nothing),
        ),
        (
            "owner: brought to the spec",
            Standing::Mine,
            example(false),
            vec![other_credential.clone()],
            Decision::Act(RuleAction::Update(request(&example(false).spec))),
        ),
        (
            "free, no rule: created (and claimed before the call)",
            Standing::Free,
            example(false),
            vec![],
            Decision::Act(RuleAction::Create(request(&example(false).spec))),
        ),
        (
            "stale, no rule: created",
            stale.clone(),
            example(false),
            vec![],
            Decision::Act(RuleAction::Create(request(&example(false).spec))),
        ),
        (
            "stale, the former owner's rule retained: adoption required",
            stale.clone(),
            example(false),
            vec![older.clone()],
            Decision::Blocked(Reason::AdoptionRequired, String::new()),
        ),
        (
            "stale, adopt: true: taken over",
            stale.clone(),
            adopting.clone(),
            vec![other_credential.clone()],
            Decision::Act(RuleAction::Update(request(&adopting.spec))),
        ),
    ];
    for (what, claim, obj, rules, want) in cases {
        let got = claimed(&obj, &rules, &claim);
        match (&got, &want) {
            (Decision::Blocked(g, _), Decision::Blocked(w, _)) => assert_eq!(g, w, "{what}"),
            _ => assert_eq!(got, want, "{what}"),
        }
    }
}

#[test]
fn an_old_prefix_claimed_since_by_another_object_is_not_deleted() {
    let mut moved = example(true);
    moved.spec.ecr_repository_prefix = "hub".into();
    moved.spec.replace_on_immutable_change = true;
    let d = decide(&Inputs {
        obj: &moved,
        rules: &[rule("docker-hub", BORN)],
        paused: false,
        claim: &Standing::Free,
        old_claim: Some(&team_a()),
    });
    assert_eq!(d, Decision::Act(RuleAction::Create(request(&moved.spec))));
    // Its own old claim: replaced as before.
    let d = decide(&Inputs {
        obj: &moved,
        rules: &[rule("docker-hub", BORN)],
        paused: false,
        claim: &Standing::Free,
        old_claim: Some(&Standing::Mine),
    });
    assert!(
        matches!(d, Decision::Act(RuleAction::Replace { .. })),
        "{d:?}"
    );
}

/// (case, prefix, other rules, templates for the cache, Ready, reason)
type NamedCase = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    bool,
    Reason,
);

#[test]
fn a_rule_that_cannot_serve_the_repository_it_is_named_after_is_not_ready() {
    let cases: [NamedCase; 6] = [
        (
            "a per-repository rule under a prefix rule",
            "docker-hub/team/api",
            &["docker-hub"],
            &[],
            false,
            Reason::PrefixOverlap,
        ),
        (
            "a per-repository rule under a template for the cache",
            "docker-hub/team/api",
            &[],
            &["docker-hub"],
            false,
            Reason::TemplateOverlap,
        ),
        (
            "a per-repository rule under the ROOT rule",
            "ecr-public/team/api",
            &["ROOT"],
            &[],
            false,
            Reason::PrefixOverlap,
        ),
        (
            "a prefix rule whose template covers only the repositories under it",
            "docker-hub",
            &[],
            &["docker-hub"],
            true,
            Reason::TemplateOverlap,
        ),
        (
            "a prefix rule with per-repository rules under it",
            "docker-hub",
            &["docker-hub/team/api"],
            &[],
            true,
            Reason::PrefixOverlap,
        ),
        (
            "a per-repository rule alone",
            "docker-hub/team/api",
            &[],
            &[],
            true,
            Reason::RuleReady,
        ),
    ];
    for (case, prefix, others, templates, ready, reason) in cases {
        let rules: Vec<RuleView> = others.iter().map(|p| rule(p, BORN)).collect();
        let templates: Vec<TemplateView> = templates
            .iter()
            .map(|p| TemplateView {
                prefix: p.to_string(),
                for_cache: true,
            })
            .collect();
        let d = diagnose(prefix, &rules, &templates, vec![]);
        let c = conditions(prefix, &VALID, &d);
        assert_eq!(reason_of(&c, READY), (ready, reason), "{case}");
        let degraded = reason_of(&c, DEGRADED);
        match (ready, reason) {
            (true, Reason::RuleReady) => {
                assert_eq!(degraded, (false, Reason::AsExpected), "{case}")
            }
            // The warning names what to fix, Degraded stays False: pulls
            // of the other repositories work.
            (true, _) => assert_eq!(degraded, (false, reason), "{case}"),
            (false, _) => {
                assert_eq!(degraded, (true, reason), "{case}");
                let message = &c[2].message;
                assert!(
                    message.contains(&format!("cannot serve repository {prefix}")),
                    "{case}: {message}"
                );
                for cover in others
                    .iter()
                    .copied()
                    .chain(templates.iter().map(|t| t.prefix.as_str()))
                {
                    assert!(message.contains(cover), "{case}: {cover} in {message}");
                }
            }
        }
    }
}
