//! The connection Secret applications read (endpoints and names, never a
//! password), written only into a Secret berth created for this object.
//!
//! berth may not read Secrets (the chart grants `create` and `patch` only),
//! so it never looks before it writes. It creates the Secret with POST,
//! labelled with the AuroraCluster's UID and owned by it; when a Secret of
//! that name exists (409), it sends a JSON patch whose first operation tests
//! that label. The API server applies a JSON patch as a whole, so on a Secret
//! berth did not create for this object the test fails, nothing changes and
//! berth never sees the Secret's content (a failed patch returns no object).
//! The object then reports `SecretConflict`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::{json, Value};

use super::super::context::{Context, MANAGER};
use super::super::error::{Error, Result};
use crate::api::aurora_cluster::{AuroraCluster, AuroraClusterStatus};

/// Names the AuroraCluster (by UID) a connection Secret was created for.
/// A Secret without it, or with another UID, is not berth's to write.
pub const OWNER_UID_LABEL: &str = "berth.dev/owner-uid";

/// What became of one write of the connection Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
    /// A Secret of that name exists and berth did not create it for this
    /// object: it was left exactly as it was.
    NotOurs,
}

/// The keys applications read. Every key is always present (empty while
/// unknown), so an update replaces `data` as a whole.
pub fn data(obj: &AuroraCluster, st: &AuroraClusterStatus) -> BTreeMap<String, ByteString> {
    let spec = &obj.spec;
    [
        ("host", st.endpoint.clone()),
        ("port", st.port.map(|p| p.to_string())),
        ("dbname", spec.database_name.clone()),
        ("username", Some(spec.master_username.clone())),
        ("readerHost", st.reader_endpoint.clone()),
        ("proxyHost", st.proxy_endpoint.clone()),
        ("masterUserSecretArn", st.master_user_secret_arn.clone()),
        ("iamAuth", Some(spec.iam_authentication.to_string())),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            k.to_string(),
            ByteString(v.unwrap_or_default().into_bytes()),
        )
    })
    .collect()
}

/// The Secret berth creates: its data, the label naming this object's UID,
/// and this object as controller owner, so garbage collection deletes it
/// with the AuroraCluster. `None` without `spec.connectionSecret`.
pub fn desired(obj: &AuroraCluster, st: &AuroraClusterStatus) -> Option<Secret> {
    let cs = obj.spec.connection_secret.as_ref()?;
    let uid = obj.metadata.uid.clone()?;
    let mut secret = Secret {
        data: Some(data(obj, st)),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    secret.metadata.name = Some(cs.name.clone());
    secret.metadata.namespace = obj.namespace();
    secret.metadata.labels = Some(BTreeMap::from([(OWNER_UID_LABEL.to_string(), uid)]));
    secret.metadata.owner_references = obj.controller_owner_ref(&()).map(|r| vec![r]);
    Some(secret)
}

/// A JSON pointer token (RFC 6901): `~` and `/` escaped.
fn pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The update of an existing Secret: applies only if its owner label names
/// `uid`. The `test` comes first and the API server applies the patch
/// atomically, so a Secret with another or no such label is not touched.
pub fn update_patch(uid: &str, data: &BTreeMap<String, ByteString>) -> Value {
    json!([
        {
            "op": "test",
            "path": format!("/metadata/labels/{}", pointer_token(OWNER_UID_LABEL)),
            "value": uid,
        },
        { "op": "add", "path": "/data", "value": data },
    ])
}

/// The update of a Secret an earlier berth wrote by server-side apply:
/// no label, but this object as its only (so first) ownerReference. Tried
/// only after [`update_patch`] found no label.
pub fn legacy_update_patch(uid: &str, data: &BTreeMap<String, ByteString>) -> Value {
    json!([
        { "op": "test", "path": "/metadata/ownerReferences/0/uid", "value": uid },
        { "op": "add", "path": "/data", "value": data },
    ])
}

/// An RFC 6902 patch for the client (the json-patch crate's type, by
/// inference).
fn json_patch(ops: Value) -> Result<Patch<()>> {
    Ok(Patch::Json(
        serde_json::from_value(ops).map_err(|e| Error::Config(e.to_string()))?,
    ))
}

/// The answer to a POST of a Secret whose name is taken.
pub fn already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && s.reason == "AlreadyExists")
}

/// The answer to a JSON patch whose `test` failed, on a differing value or
/// a missing path alike. kube-apiserver answers 422 (reason `Invalid`,
/// "the server rejected our request due to an error in our request") with
/// no cause naming a field: 1.20 sends no causes at all (seen in e2e
/// connection_secret.rs), later versions the patch library's error as a
/// field-less cause (handlers/patch.go, `NewGenericServerResponse`). A
/// patched Secret failing validation is a 422 too, but its causes name the
/// fields.
pub fn test_failed(e: &kube::Error) -> bool {
    let kube::Error::Api(s) = e else {
        return false;
    };
    s.code == 422
        && s.details
            .as_ref()
            .is_none_or(|d| d.causes.iter().all(|c| c.field.is_empty()))
}

/// Writes the connection Secret, if the spec asks for one.
pub async fn write(
    obj: &AuroraCluster,
    ctx: &Context,
    st: &AuroraClusterStatus,
) -> Result<Option<Written>> {
    let Some(secret) = desired(obj, st) else {
        return Ok(None);
    };
    let (name, ns) = (secret.name_any(), obj.namespace().unwrap_or_default());
    let uid = obj.metadata.uid.clone().unwrap_or_default();
    let data = secret.data.clone().unwrap_or_default();
    let api = Api::<Secret>::namespaced(ctx.client.clone(), &ns);
    let post = PostParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    match api.create(&post, &secret).await {
        Ok(_) => return Ok(Some(Written::Created)),
        Err(e) if already_exists(&e) => {}
        Err(e) => return Err(e.into()),
    }
    let params = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    for patch in [update_patch(&uid, &data), legacy_update_patch(&uid, &data)] {
        match api.patch(&name, &params, &json_patch(patch)?).await {
            Ok(_) => return Ok(Some(Written::Updated)),
            Err(e) if test_failed(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(Written::NotOurs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::aurora_cluster::plan_tests::{example, UID};
    use kube::core::response::{StatusCause, StatusDetails};
    use kube::core::Status;

    fn status() -> AuroraClusterStatus {
        AuroraClusterStatus {
            endpoint: Some("orders-db.cluster-abc.us-east-1.rds.amazonaws.com".into()),
            port: Some(5432),
            proxy_endpoint: Some("orders-db-proxy.proxy-abc.us-east-1.rds.amazonaws.com".into()),
            ..Default::default()
        }
    }

    fn text(d: &BTreeMap<String, ByteString>, k: &str) -> String {
        String::from_utf8(d[k].0.clone()).unwrap()
    }

    #[test]
    fn the_secret_is_labelled_and_owned_by_this_object() {
        let s = desired(&example(), &status()).unwrap();
        assert_eq!(s.metadata.name.as_deref(), Some("orders-db-connection"));
        assert_eq!(s.metadata.namespace.as_deref(), Some("shop"));
        assert_eq!(
            s.metadata.labels,
            Some(BTreeMap::from([(
                OWNER_UID_LABEL.to_string(),
                UID.to_string()
            )]))
        );
        let owners = s.metadata.owner_references.unwrap();
        assert_eq!(owners.len(), 1);
        let o = &owners[0];
        assert_eq!(
            (
                o.kind.as_str(),
                o.name.as_str(),
                o.uid.as_str(),
                o.controller
            ),
            ("AuroraCluster", "orders-db", UID, Some(true))
        );
        let d = s.data.unwrap();
        assert_eq!(
            text(&d, "host"),
            "orders-db.cluster-abc.us-east-1.rds.amazonaws.com"
        );
        assert_eq!(text(&d, "port"), "5432");
        assert_eq!(text(&d, "dbname"), "orders");
        assert_eq!(text(&d, "username"), "orders_admin");
        assert_eq!(text(&d, "iamAuth"), "true");
        // Unknown so far, present and empty: an update replaces data whole.
        assert_eq!(text(&d, "readerHost"), "");
        assert_eq!(d.len(), 8);
        assert!(d.keys().all(|k| !k.to_lowercase().contains("password")));
    }

    #[test]
    fn no_secret_without_connection_secret_or_uid() {
        let mut obj = example();
        obj.spec.connection_secret = None;
        assert!(desired(&obj, &status()).is_none());
        let mut obj = example();
        obj.metadata.uid = None;
        assert!(desired(&obj, &status()).is_none());
    }

    #[test]
    fn the_update_tests_the_owner_label_first() {
        let d = data(&example(), &status());
        let p = update_patch(UID, &d);
        assert_eq!(
            p[0],
            json!({"op": "test", "path": "/metadata/labels/berth.dev~1owner-uid", "value": UID})
        );
        assert_eq!(p[1]["op"], "add");
        assert_eq!(p[1]["path"], "/data");
        assert_eq!(p.as_array().unwrap().len(), 2);
        // base64 in JSON, as the API expects Secret data.
        assert_eq!(p[1]["value"]["port"], "NTQzMg==");
        let legacy = legacy_update_patch(UID, &d);
        assert_eq!(
            legacy[0],
            json!({"op": "test", "path": "/metadata/ownerReferences/0/uid", "value": UID})
        );
        assert_eq!(legacy[1], p[1]);
        // The client sends them as written (the pointer escape survives).
        for patch in [p, legacy] {
            let Ok(Patch::Json(sent)) = json_patch(patch.clone()) else {
                panic!("not a JSON patch: {patch}");
            };
            assert_eq!(serde_json::to_value(&sent).unwrap(), patch);
        }
    }

    #[test]
    fn pointer_tokens_escape_tilde_then_slash() {
        assert_eq!(pointer_token("berth.dev/owner-uid"), "berth.dev~1owner-uid");
        assert_eq!(pointer_token("a~/b"), "a~0~1b");
    }

    fn api_error(code: u16, reason: &str, causes: Vec<StatusCause>) -> kube::Error {
        let s = Status::failure("x", reason)
            .with_code(code)
            .with_details(StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes,
                retry_after_seconds: 0,
            });
        kube::Error::Api(s.boxed())
    }

    fn cause(reason: &str, field: &str, message: &str) -> StatusCause {
        StatusCause {
            reason: reason.into(),
            message: message.into(),
            field: field.into(),
        }
    }

    #[test]
    fn a_failed_test_operation_means_not_ours_and_nothing_else_does() {
        // As kube-apiserver 1.20 answers a failed test and a test of a
        // missing label (e2e connection_secret.rs sees both on a real
        // server): no causes.
        let v1_20 = api_error(422, "Invalid", vec![]);
        assert!(test_failed(&v1_20));
        // As later versions carry the patch library's error.
        let failed = api_error(
            422,
            "Invalid",
            vec![cause(
                "UnexpectedServerResponse",
                "",
                "testing value /metadata/labels/berth.dev~1owner-uid failed: test failed",
            )],
        );
        assert!(test_failed(&failed));
        let missing = api_error(
            422,
            "Invalid",
            vec![cause(
                "UnexpectedServerResponse",
                "",
                "test operation does not apply: doc is missing path",
            )],
        );
        assert!(test_failed(&missing));
        // The patched Secret failing validation is an error, not "not ours".
        let invalid = api_error(
            422,
            "Invalid",
            vec![cause("FieldValueForbidden", "data", "field is immutable")],
        );
        assert!(!test_failed(&invalid));
        assert!(!test_failed(&api_error(404, "NotFound", vec![])));
        assert!(!test_failed(&api_error(403, "Forbidden", vec![])));
    }

    #[test]
    fn only_a_taken_name_sends_the_update() {
        assert!(already_exists(&api_error(409, "AlreadyExists", vec![])));
        // A conflict on resourceVersion is another thing.
        assert!(!already_exists(&api_error(409, "Conflict", vec![])));
        assert!(!already_exists(&api_error(403, "Forbidden", vec![])));
    }
}
