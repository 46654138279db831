//! Call accounting for benchmarks and for tests that assert how many calls
//! the controller made.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub seq: u64,
    /// Real time (epoch seconds) when the call arrived.
    pub time: f64,
    /// Virtual time of the call.
    pub virtual_time: f64,
    pub service: String,
    pub action: String,
    pub caller: String,
    /// `ok`, `throttled`, `error:<code>`, `fault` or `lost` (committed, answer
    /// replaced by a 5xx).
    pub outcome: String,
    pub params: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub struct CallLog {
    next_seq: u64,
    records: Vec<CallRecord>,
}

/// Caps memory for long benchmark runs; counts stay exact in the log's
/// window only, which is what a run between two resets needs.
const MAX_RECORDS: usize = 200_000;

/// The request fields worth seeing in a call log.
const KEY_PARAMS: &[&str] = &[
    "cluster",
    "service",
    "serviceName",
    "taskDefinition",
    // UpdateService: a new deployment asked for with nothing else changed.
    "forceNewDeployment",
    "startedBy",
    "family",
    "familyPrefix",
    "task",
    "SecretId",
    "Name",
    "logGroupName",
    "logStreamName",
    "ecrRepositoryPrefix",
    "DBClusterIdentifier",
    "DBInstanceIdentifier",
    "DBProxyName",
    "Id",
    "NamespaceId",
    "ServiceId",
    "OperationId",
    // Service deployments: which deployment and hook, and what was asked.
    "serviceDeploymentArn",
    "hookId",
    "action",
    "stopType",
];

pub fn key_params(body: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(obj) = body.as_object() else {
        return out;
    };
    for k in KEY_PARAMS {
        if let Some(v) = obj.get(*k) {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert((*k).to_string(), s);
        }
    }
    if let Some(Value::Array(services)) = obj.get("services") {
        out.insert("services".into(), services.len().to_string());
    }
    if let Some(Value::Array(tasks)) = obj.get("tasks") {
        out.insert("tasks".into(), tasks.len().to_string());
    }
    out
}

impl CallLog {
    pub fn record(&mut self, mut rec: CallRecord) -> u64 {
        self.next_seq += 1;
        rec.seq = self.next_seq;
        if self.records.len() >= MAX_RECORDS {
            self.records.drain(..MAX_RECORDS / 10);
        }
        self.records.push(rec);
        self.next_seq
    }

    pub fn set_outcome(&mut self, seq: u64, outcome: String) {
        if let Some(r) = self.records.iter_mut().rev().find(|r| r.seq == seq) {
            r.outcome = outcome;
        }
    }

    pub fn reset(&mut self) {
        self.records.clear();
    }

    fn matches(r: &CallRecord, caller: Option<&str>) -> bool {
        caller.is_none_or(|c| r.caller == c)
    }

    /// `{"total": N, "byService": {"ecs": {"DescribeServices": 3}}, "throttled": N}`.
    pub fn counts(&self, caller: Option<&str>) -> Value {
        let mut by: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
        let mut callers: BTreeMap<&str, u64> = BTreeMap::new();
        let (mut total, mut throttled, mut errors) = (0u64, 0u64, 0u64);
        for r in self.records.iter().filter(|r| Self::matches(r, caller)) {
            total += 1;
            *by.entry(&r.service)
                .or_default()
                .entry(&r.action)
                .or_default() += 1;
            *callers.entry(&r.caller).or_default() += 1;
            if r.outcome == "throttled" {
                throttled += 1;
            } else if r.outcome != "ok" {
                errors += 1;
            }
        }
        json!({
            "total": total,
            "throttled": throttled,
            "errors": errors,
            "byService": by,
            "byCaller": callers,
        })
    }

    pub fn log(&self, caller: Option<&str>, since: u64) -> Vec<&CallRecord> {
        self.records
            .iter()
            .filter(|r| r.seq > since && Self::matches(r, caller))
            .collect()
    }
}
