use super::*;

fn ctx(now: f64) -> Ctx {
    Ctx {
        account_id: "123456789012".into(),
        region: "eu-west-1".into(),
        now,
    }
}

#[test]
fn operation_fails_when_its_service_disappears_first() {
    let mut cm = CloudMapState::default();
    let ns = cm.seed_private_dns_namespace(&ctx(0.0), "a.local", "vpc-1");
    let svc = cm
        .handle(
            &ctx(0.0),
            "CreateService",
            &json!({"Name": "web", "NamespaceId": ns}),
        )
        .unwrap()["Service"]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let op = cm
        .handle(
            &ctx(1.0),
            "RegisterInstance",
            &json!({"ServiceId": svc, "InstanceId": "i-1", "CreatorRequestId": "r1"}),
        )
        .unwrap()["OperationId"]
        .as_str()
        .unwrap()
        .to_string();
    // The same CreatorRequestId is the same operation.
    let again = cm
        .handle(
            &ctx(1.0),
            "RegisterInstance",
            &json!({"ServiceId": svc, "InstanceId": "i-1", "CreatorRequestId": "r1"}),
        )
        .unwrap();
    assert_eq!(again["OperationId"], json!(op));
    // Not registered yet, so the service can still be deleted.
    cm.handle(&ctx(1.5), "DeleteService", &json!({"Id": svc}))
        .unwrap();
    let got = cm
        .handle(&ctx(10.0), "GetOperation", &json!({"OperationId": op}))
        .unwrap();
    assert_eq!(got["Operation"]["Status"], "FAIL");
    assert_eq!(got["Operation"]["ErrorCode"], "ServiceNotFound");
    assert_eq!(got["Operation"]["Targets"]["INSTANCE"], "i-1");
}

#[test]
fn http_namespace_refuses_dns_config() {
    let mut cm = CloudMapState::default();
    let op = cm
        .handle(&ctx(0.0), "CreateHttpNamespace", &json!({"Name": "h"}))
        .unwrap();
    let got = cm
        .handle(
            &ctx(60.0),
            "GetOperation",
            &json!({"OperationId": op["OperationId"]}),
        )
        .unwrap();
    let ns = got["Operation"]["Targets"]["NAMESPACE"].clone();
    let err = cm
        .handle(
            &ctx(60.0),
            "CreateService",
            &json!({"Name": "s", "NamespaceId": ns,
                    "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 10}]}}),
        )
        .unwrap_err();
    assert_eq!(err.code, "InvalidInput");
    let ok = cm
        .handle(
            &ctx(60.0),
            "CreateService",
            &json!({"Name": "s", "NamespaceId": ns}),
        )
        .unwrap();
    assert_eq!(ok["Service"]["Type"], "HTTP");
}
