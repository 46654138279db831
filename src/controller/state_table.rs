//! The state table of docs/conditions.md: for each kind and each state a
//! user meets (creating, ready, rolling out, waiting, retrying, needs a
//! human, paused, deleting, deleted but retained), the three conditions the
//! real code writes and the verdict of the shipped Argo CD health script on
//! them. Each kind builds its rows from its own plan (and the shell), so the
//! table cannot drift from the code: `BERTH_UPDATE_DOCS=1 cargo test -p
//! berth --lib state_table` rewrites it.

use serde_json::{json, Value};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use k8s_openapi::jiff::Timestamp;

use super::shell::{self, Outcome};
use super::status::Conditioned;
use crate::api::conditions::{Desired, Reason, DEGRADED, PROGRESSING, READY};

#[path = "../../tests/argocd_health/lua.rs"]
mod lua;

/// A state a user meets, in the order of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Creating,
    Ready,
    RollingOut,
    Waiting,
    Retrying,
    NeedsHuman,
    Paused,
    Deleting,
    Retained,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Creating,
        State::Ready,
        State::RollingOut,
        State::Waiting,
        State::Retrying,
        State::NeedsHuman,
        State::Paused,
        State::Deleting,
        State::Retained,
    ];

    fn label(self) -> &'static str {
        match self {
            State::Creating => "creating",
            State::Ready => "ready",
            State::RollingOut => "rolling out",
            State::Waiting => "waiting",
            State::Retrying => "retrying",
            State::NeedsHuman => "needs a human",
            State::Paused => "paused",
            State::Deleting => "deleting",
            State::Retained => "deleted, retained",
        }
    }
}

/// What a kind shows in a state.
pub enum Shown {
    /// The conditions the code writes; `phase` is a MigrationJob's.
    Conditions {
        conditions: Vec<Desired>,
        phase: Option<&'static str>,
        paused: bool,
        deleting: bool,
    },
    /// The object is gone from the cluster (what stays in AWS is said by an
    /// Event); the code proves it by `Kind::retained`.
    Gone,
    /// The kind has no such state.
    Never,
}

pub struct Row {
    pub state: State,
    /// The situation, in a user's words.
    pub when: &'static str,
    pub shown: Shown,
}

impl Row {
    pub fn new(state: State, when: &'static str, conditions: Vec<Desired>) -> Row {
        Row {
            state,
            when,
            shown: Shown::Conditions {
                conditions,
                phase: None,
                paused: false,
                deleting: false,
            },
        }
    }

    /// Conditions as read back from a status.
    pub fn desired(conditions: &[Condition]) -> Vec<Desired> {
        conditions
            .iter()
            .map(|c| {
                let type_ = [READY, PROGRESSING, DEGRADED]
                    .into_iter()
                    .find(|t| *t == c.type_)
                    .unwrap_or_else(|| panic!("unknown condition {}", c.type_));
                let reason = Reason::parse(&c.reason).unwrap_or_else(|| panic!("{}", c.reason));
                Desired::new(type_, c.status == "True", reason, c.message.clone())
            })
            .collect()
    }

    pub fn phase(mut self, p: &'static str) -> Row {
        if let Shown::Conditions { phase, .. } = &mut self.shown {
            *phase = Some(p);
        }
        self
    }

    pub fn paused(mut self) -> Row {
        if let Shown::Conditions { paused, .. } = &mut self.shown {
            *paused = true;
        }
        self
    }

    pub fn deleting(mut self) -> Row {
        if let Shown::Conditions { deleting, .. } = &mut self.shown {
            *deleting = true;
        }
        self
    }

    /// The conditions the shell writes while `berth.dev/paused` is "true",
    /// from what the kind's converge returned.
    pub fn paused_from<S: Conditioned + Default>(
        when: &'static str,
        kind: &str,
        outcome: Outcome<S>,
    ) -> Row {
        let written =
            match shell::paused(kind, &S::default(), outcome, Some(2), Timestamp::UNIX_EPOCH) {
                Outcome::Conditions(desired, _) => desired,
                Outcome::Status(status, _) => Row::desired(status.conditions()),
                _ => panic!("{kind} paused: no conditions"),
            };
        Row::new(State::Paused, when, written).paused()
    }

    /// The conditions the shell writes while the kind's deletion waits for
    /// `what`.
    pub fn deleting_for(when: &'static str, kind: &str, what: &str) -> Row {
        Row::new(State::Deleting, when, shell::deleting(kind, what)).deleting()
    }

    pub fn gone(state: State, when: &'static str) -> Row {
        Row {
            state,
            when,
            shown: Shown::Gone,
        }
    }

    pub fn never(state: State, when: &'static str) -> Row {
        Row {
            state,
            when,
            shown: Shown::Never,
        }
    }
}

/// The object as the API server would hand it to Argo CD: the current
/// generation observed, the conditions, the annotation and deletion mark.
fn object(
    kind: &str,
    conditions: &[Desired],
    phase: Option<&str>,
    paused: bool,
    deleting: bool,
) -> Value {
    let conds: Vec<Value> = conditions
        .iter()
        .map(|c| {
            json!({
                "type": c.type_,
                "status": if c.status { "True" } else { "False" },
                "reason": c.reason.as_str(),
                "message": c.message,
                "observedGeneration": 2,
            })
        })
        .collect();
    let mut obj = json!({
        "apiVersion": "berth.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": "example", "namespace": "shop", "generation": 2},
        "status": {"observedGeneration": 2, "conditions": conds},
    });
    if paused {
        obj["metadata"]["annotations"] = json!({"berth.dev/paused": "true"});
    }
    if deleting {
        obj["metadata"]["deletionTimestamp"] = json!("2026-12-07T10:00:00Z");
    }
    if let Some(p) = phase {
        obj["status"]["phase"] = json!(p);
    }
    obj
}

fn argo(kind: &str, obj: &Value) -> String {
    let path = format!(
        "{}/integrations/argocd/resource_customizations/berth.dev/{kind}/health.lua",
        env!("CARGO_MANIFEST_DIR")
    );
    let script = std::fs::read_to_string(&path).unwrap();
    lua::run_health(&script, &path, obj)
        .unwrap_or_else(|e| panic!("{kind}: {e}"))
        .status
}

fn cell(conditions: &[Desired], type_: &str) -> String {
    let c = conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {conditions:?}"));
    let status = if c.status { "True" } else { "False" };
    format!("{status} `{}`", c.reason.as_str())
}

/// One kind's table.
fn table(kind: &str, rows: &[Row]) -> String {
    let mut out = format!(
        "### {kind}\n\n| state | when | Ready | Progressing | Degraded | Argo CD |\n|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let cells = match &r.shown {
            Shown::Conditions {
                conditions,
                phase,
                paused,
                deleting,
            } => {
                let verdict = argo(kind, &object(kind, conditions, *phase, *paused, *deleting));
                [
                    cell(conditions, READY),
                    cell(conditions, PROGRESSING),
                    cell(conditions, DEGRADED),
                    verdict,
                ]
            }
            Shown::Gone => [
                "none: the object is gone".into(),
                "—".into(),
                "—".into(),
                "none (pruned)".into(),
            ],
            Shown::Never => ["—".into(), "—".into(), "—".into(), "—".into()],
        };
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            r.state.label(),
            r.when,
            cells.join(" | ")
        ));
    }
    out
}

const BEGIN: &str = "<!-- states:begin -->\n";
const END: &str = "<!-- states:end -->";

#[test]
fn the_state_table_in_the_docs_is_what_the_code_writes() {
    let kinds = [
        ("EcsService", super::ecs_service::states()),
        ("MigrationJob", super::migration_job::states()),
        ("AuroraCluster", super::aurora_cluster::states()),
        ("PullThroughCache", super::pull_through_cache::states()),
    ];
    let mut tables = Vec::new();
    for (kind, rows) in &kinds {
        let states: Vec<State> = rows.iter().map(|r| r.state).collect();
        assert_eq!(states, State::ALL, "{kind}: one row per state, in order");
        tables.push(table(kind, rows));
    }
    let want = tables.join("\n");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/conditions.md");
    let text = std::fs::read_to_string(path).unwrap();
    let start = text
        .find(BEGIN)
        .expect("docs/conditions.md has no states:begin marker")
        + BEGIN.len();
    let end = text
        .find(END)
        .expect("docs/conditions.md has no states:end marker");
    if text[start..end] == want {
        return;
    }
    if std::env::var_os("BERTH_UPDATE_DOCS").is_some() {
        std::fs::write(path, format!("{}{want}{}", &text[..start], &text[end..])).unwrap();
        return;
    }
    panic!(
        "the state table in docs/conditions.md is out of date: run BERTH_UPDATE_DOCS=1 cargo test -p berth --lib state_table\n{want}"
    );
}
