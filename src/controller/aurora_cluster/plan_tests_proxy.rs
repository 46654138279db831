//! Table tests of the proxy steps: settings changed by one ModifyDBProxy
//! only while the proxy is available, adoption of a proxy of berth's name,
//! and the target's health.

use std::collections::BTreeMap;

use super::plan::{proxy_modify, RdsAction};
use super::plan_tests::{all_up, example, normal, proxy, reason_of, run, target, OWNER, SECRET};
use crate::api::aurora_cluster::ProxyIamAuth;
use crate::api::conditions::{Reason, DEGRADED, PROGRESSING, READY};
use crate::aws::rds::{ProxyAuth, ProxyModify};
use crate::aws::tags::TAG_OWNER;

#[test]
fn each_proxy_setting_is_one_modify_with_only_that_value() {
    let sg = "sg-0a1b2c3d4e5f6aaaa";
    let role = "arn:aws:iam::123456789012:role/other";
    type Case = (
        &'static str,
        fn(&mut crate::api::AuroraCluster),
        ProxyModify,
    );
    let cases: Vec<Case> = vec![
        (
            "requireTls",
            |o| o.spec.proxy.as_mut().unwrap().require_tls = false,
            ProxyModify {
                require_tls: Some(false),
                ..Default::default()
            },
        ),
        (
            "idleClientTimeout",
            |o| o.spec.proxy.as_mut().unwrap().idle_client_timeout = 900,
            ProxyModify {
                idle_client_timeout: Some(900),
                ..Default::default()
            },
        ),
        (
            "roleArn",
            |o| {
                o.spec.proxy.as_mut().unwrap().role_arn =
                    "arn:aws:iam::123456789012:role/other".into()
            },
            ProxyModify {
                role_arn: Some(role.into()),
                ..Default::default()
            },
        ),
        (
            "securityGroupIds",
            |o| {
                o.spec.proxy.as_mut().unwrap().security_group_ids =
                    vec!["sg-0a1b2c3d4e5f6aaaa".into()]
            },
            ProxyModify {
                security_group_ids: Some(vec![sg.into()]),
                ..Default::default()
            },
        ),
        (
            "iamAuth (with iamAuthentication, kept consistent)",
            |o| {
                o.spec.proxy.as_mut().unwrap().iam_auth = ProxyIamAuth::Disabled;
                o.spec.iam_authentication = false;
            },
            ProxyModify {
                auth: Some(vec![ProxyAuth {
                    secret_arn: Some(SECRET.into()),
                    iam_auth: "DISABLED".into(),
                    client_password_auth_type: Some("POSTGRES_SCRAM_SHA_256".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
        ),
    ];
    for (name, edit, want) in cases {
        let mut obj = example();
        edit(&mut obj);
        let mut o = all_up();
        // The cluster-level IAM change is its own (earlier) step.
        o.cluster.as_mut().unwrap().iam_auth = obj.spec.iam_authentication;
        let p = run(&obj, &o);
        assert_eq!(
            p.action,
            RdsAction::ModifyProxy {
                name: "orders-db-proxy".into(),
                modify: want.clone(),
            },
            "{name}"
        );
        assert_eq!(
            reason_of(&p.conditions, PROGRESSING),
            (true, Reason::Modifying),
            "{name}"
        );
        // Busy: waited on, never a second modification on top.
        for status in ["modifying", "creating"] {
            o.proxy.as_mut().unwrap().status = status.into();
            let p = run(&obj, &o);
            assert_eq!(p.action, RdsAction::Nothing, "{name} while {status}");
            assert!(p.busy);
        }
        // Applied: nothing more to do.
        let mut applied = proxy("available");
        let ps = obj.spec.proxy.as_ref().unwrap();
        applied.require_tls = ps.require_tls;
        applied.idle_client_timeout = Some(ps.idle_client_timeout);
        applied.role_arn = ps.role_arn.clone();
        if !ps.security_group_ids.is_empty() {
            applied.security_group_ids = ps.security_group_ids.clone();
        }
        if let Some(auth) = &want.auth {
            applied.auth = auth.clone();
        }
        assert!(proxy_modify(&obj, ps, &applied).is_empty(), "{name}");
    }
}

#[test]
fn a_proxy_of_berths_name_without_its_tags_needs_adopt() {
    let mut o = all_up();
    o.proxy.as_mut().unwrap().tags = Some(BTreeMap::from([("team".into(), "dba".into())]));
    o.target = None;
    let p = run(&example(), &o);
    assert_eq!(p.action, RdsAction::Nothing);
    assert_eq!(
        reason_of(&p.conditions, DEGRADED),
        (true, Reason::AdoptionRequired)
    );

    let mut obj = example();
    obj.spec.adopt = true;
    let p = run(&obj, &o);
    assert!(
        matches!(&p.action, RdsAction::AdoptProxy { name, arn, tags }
            if name == "orders-db-proxy" && arn.ends_with("db-proxy:prx-1")
                && tags.get(TAG_OWNER).map(String::as_str) == Some(OWNER)),
        "{:?}",
        p.action
    );
    // Tags not listed (status.proxyArn names it): berth's.
    o.proxy.as_mut().unwrap().tags = None;
    o.target = Some(target("AVAILABLE"));
    assert_eq!(
        reason_of(&run(&example(), &o).conditions, READY),
        (true, Reason::Available)
    );
}

#[test]
fn an_unhealthy_target_keeps_ready_false_with_awss_reason() {
    let mut o = all_up();
    let mut t = target("UNAVAILABLE");
    t.reason = Some("AUTH_FAILURE".into());
    t.description = Some("Proxy does not have any registered credentials".into());
    o.target = Some(t);
    let p = run(&example(), &o);
    assert_eq!(p.action, RdsAction::Nothing);
    let ready = p.conditions.iter().find(|c| c.type_ == READY).unwrap();
    assert!(!ready.status);
    assert!(
        ready
            .message
            .contains("UNAVAILABLE (AUTH_FAILURE: Proxy does not have"),
        "{}",
        ready.message
    );
}

#[test]
fn proxy_steps_say_what_rds_did() {
    let mut obj = example();
    obj.spec.proxy.as_mut().unwrap().idle_client_timeout = 900;
    assert_eq!(
        normal(run(&obj, &all_up()).action.event(&obj)),
        (
            "ProxyModified",
            "ModifyDBProxy",
            "modified RDS Proxy orders-db-proxy: idle client timeout 900s".into()
        )
    );
    let mut o = all_up();
    o.proxy.as_mut().unwrap().tags = Some(BTreeMap::from([("team".into(), "dba".into())]));
    o.target = None;
    let mut obj = example();
    obj.spec.adopt = true;
    assert_eq!(
        normal(run(&obj, &o).action.event(&obj)),
        (
            "Adopted",
            "AddTagsToResource",
            "adopted the existing RDS Proxy orders-db-proxy (spec.adopt: true)".into()
        )
    );
}
