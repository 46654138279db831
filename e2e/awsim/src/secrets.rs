//! Secrets Manager (awsJson1_1, `secretsmanager`): secrets with versions and
//! the AWSCURRENT/AWSPREVIOUS staging labels. Every put makes a new version
//! id, which is what lets berth notice rotations.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::core::{AwsError, AwsResult, Ctx, SecretStore};
use crate::util::{alnum, obj, str_field};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub id: String,
    pub secret_string: Option<String>,
    pub secret_binary: Option<String>,
    pub stages: Vec<String>,
    pub created: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    pub kms_key_id: Option<String>,
    pub tags: Vec<(String, String)>,
    pub created: f64,
    pub last_changed: f64,
    pub last_accessed: Option<f64>,
    pub deletion_date: Option<f64>,
    pub versions: Vec<Version>,
}

#[derive(Default)]
struct NewSecret {
    string: Option<String>,
    binary: Option<String>,
    version_id: Option<String>,
    description: Option<String>,
    kms: Option<String>,
    tags: Vec<(String, String)>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct SecretsState {
    pub secrets: BTreeMap<String, Secret>,
}

fn not_found() -> AwsError {
    AwsError::client(
        "ResourceNotFoundException",
        "Secrets Manager can't find the specified secret.",
    )
}

fn day(t: f64) -> f64 {
    (t / 86400.0).floor() * 86400.0
}

impl Secret {
    fn stage(&self, stage: &str) -> Option<&Version> {
        self.versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == stage))
    }

    /// Stores a version. Labels are unique: the new version takes them from
    /// the others, and moving AWSCURRENT hands AWSPREVIOUS to the version
    /// that was current.
    fn put(
        &mut self,
        now: f64,
        id: String,
        string: Option<String>,
        binary: Option<String>,
        stages: Vec<String>,
    ) {
        let moves_current = stages.iter().any(|s| s == "AWSCURRENT");
        let previous = self.stage("AWSCURRENT").map(|v| v.id.clone());
        for v in &mut self.versions {
            v.stages.retain(|s| !stages.contains(s));
            if moves_current {
                v.stages.retain(|s| s != "AWSPREVIOUS");
            }
        }
        self.versions.retain(|v| v.id != id);
        if moves_current {
            if let Some(prev) = previous.filter(|p| *p != id) {
                if let Some(v) = self.versions.iter_mut().find(|v| v.id == prev) {
                    v.stages.push("AWSPREVIOUS".into());
                }
            }
        }
        self.versions.push(Version {
            id,
            secret_string: string,
            secret_binary: binary,
            stages,
            created: now,
        });
        self.last_changed = now;
    }
}

impl SecretsState {
    /// Finds a secret by name, full ARN or partial ARN (without the random
    /// six-character suffix), as Secrets Manager does.
    pub fn find(&self, id: &str) -> Option<&Secret> {
        self.secrets.values().find(|s| {
            s.arn == id
                || s.name == id
                || (id.starts_with("arn:") && s.arn.starts_with(id) && s.arn.len() == id.len() + 7)
        })
    }

    fn find_mut(&mut self, id: &str) -> AwsResult<&mut Secret> {
        let arn = self.find(id).ok_or_else(not_found)?.arn.clone();
        self.secrets.get_mut(&arn).ok_or_else(not_found)
    }

    /// True when a task's `valueFrom` resolves (`arn:...:secret:NAME-XXXXXX`
    /// optionally followed by `:json-key:stage:version`).
    pub fn resolves(&self, value_from: &str) -> bool {
        let base = if value_from.starts_with("arn:") {
            value_from
                .splitn(8, ':')
                .take(7)
                .collect::<Vec<_>>()
                .join(":")
        } else {
            value_from.to_string()
        };
        self.find(&base).is_some_and(|s| s.deletion_date.is_none())
    }

    fn create(&mut self, ctx: &Ctx, name: &str, n: NewSecret) -> AwsResult<&Secret> {
        let NewSecret {
            string,
            binary,
            version_id,
            description,
            kms,
            tags,
        } = n;
        if self.secrets.values().any(|s| s.name == name) {
            return Err(AwsError::client(
                "ResourceExistsException",
                format!("The operation failed because the secret {name} already exists."),
            ));
        }
        let arn = ctx.arn("secretsmanager", &format!("secret:{name}-{}", alnum(6)));
        let mut secret = Secret {
            arn: arn.clone(),
            name: name.to_string(),
            description,
            kms_key_id: kms,
            tags,
            created: ctx.now,
            last_changed: ctx.now,
            last_accessed: None,
            deletion_date: None,
            versions: vec![],
        };
        if string.is_some() || binary.is_some() {
            let id = version_id.unwrap_or_else(crate::util::uuid);
            secret.put(ctx.now, id, string, binary, vec!["AWSCURRENT".into()]);
        }
        self.secrets.insert(arn.clone(), secret);
        Ok(&self.secrets[&arn])
    }

    /// Creates (or puts a new value into) a seeded secret. `arn` pins the
    /// ARN, random suffix included, so manifests written against a known
    /// ARN resolve.
    pub fn put_seed(&mut self, ctx: &Ctx, name: &str, value: &str, arn: Option<&str>) -> String {
        if let Some(s) = self.find(name) {
            let arn = s.arn.clone();
            if let Some(s) = self.secrets.get_mut(&arn) {
                s.put(
                    ctx.now,
                    crate::util::uuid(),
                    Some(value.to_string()),
                    None,
                    vec!["AWSCURRENT".into()],
                );
            }
            return arn;
        }
        let created = self
            .create(
                ctx,
                name,
                NewSecret {
                    string: Some(value.to_string()),
                    ..Default::default()
                },
            )
            .map(|s| s.arn.clone())
            .unwrap_or_default();
        match (arn, self.secrets.remove(&created)) {
            (Some(pinned), Some(mut secret)) => {
                secret.arn = pinned.to_string();
                self.secrets.insert(pinned.to_string(), secret);
                pinned.to_string()
            }
            (_, Some(secret)) => {
                self.secrets.insert(created.clone(), secret);
                created
            }
            (_, None) => created,
        }
    }

    pub fn tick(&mut self, ctx: &Ctx) {
        self.secrets
            .retain(|_, s| s.deletion_date.is_none_or(|d| d > ctx.now));
    }

    pub fn handle(&mut self, ctx: &Ctx, op: &str, body: &Value) -> AwsResult<Value> {
        let secret_id = || {
            str_field(body, "SecretId").ok_or_else(|| {
                AwsError::client("InvalidParameterException", "You must specify SecretId.")
            })
        };
        let tags = |v: &Value| -> Vec<(String, String)> {
            v.get("Tags")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|t| {
                            Some((
                                t.get("Key")?.as_str()?.to_string(),
                                t.get("Value")?.as_str().unwrap_or("").to_string(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        match op {
            "CreateSecret" => {
                let name = str_field(body, "Name").ok_or_else(|| {
                    AwsError::client("InvalidParameterException", "You must specify Name.")
                })?;
                let f = |k: &str| str_field(body, k).map(str::to_string);
                let n = NewSecret {
                    string: f("SecretString"),
                    binary: f("SecretBinary"),
                    version_id: f("ClientRequestToken"),
                    description: f("Description"),
                    kms: f("KmsKeyId"),
                    tags: tags(body),
                };
                let s = self.create(ctx, name, n)?;
                Ok(obj(vec![
                    ("ARN", json!(s.arn)),
                    ("Name", json!(s.name)),
                    (
                        "VersionId",
                        json!(s.stage("AWSCURRENT").map(|v| v.id.clone())),
                    ),
                ]))
            }
            "PutSecretValue" => {
                let s = self.find_mut(secret_id()?)?;
                if s.deletion_date.is_some() {
                    return Err(marked_for_deletion());
                }
                let id = str_field(body, "ClientRequestToken")
                    .map(str::to_string)
                    .unwrap_or_else(crate::util::uuid);
                let mut stages: Vec<String> = body
                    .get("VersionStages")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if stages.is_empty() {
                    stages.push("AWSCURRENT".into());
                }
                s.put(
                    ctx.now,
                    id.clone(),
                    str_field(body, "SecretString").map(str::to_string),
                    str_field(body, "SecretBinary").map(str::to_string),
                    stages.clone(),
                );
                // AWS keeps labelled versions and a few unlabelled ones.
                let mut unlabelled = s.versions.iter().filter(|v| v.stages.is_empty()).count();
                s.versions.retain(|v| {
                    if v.stages.is_empty() && unlabelled > 100 {
                        unlabelled -= 1;
                        false
                    } else {
                        true
                    }
                });
                Ok(json!({"ARN": s.arn, "Name": s.name, "VersionId": id, "VersionStages": stages}))
            }
            "DescribeSecret" => {
                let s = self.find(secret_id()?).ok_or_else(not_found)?;
                let stages: BTreeMap<&str, &Vec<String>> = s
                    .versions
                    .iter()
                    .filter(|v| !v.stages.is_empty())
                    .map(|v| (v.id.as_str(), &v.stages))
                    .collect();
                Ok(obj(vec![
                    ("ARN", json!(s.arn)),
                    ("Name", json!(s.name)),
                    ("Description", json!(s.description)),
                    ("KmsKeyId", json!(s.kms_key_id)),
                    ("RotationEnabled", json!(false)),
                    ("LastChangedDate", json!(s.last_changed)),
                    ("LastAccessedDate", json!(s.last_accessed)),
                    ("DeletedDate", json!(s.deletion_date)),
                    ("CreatedDate", json!(s.created)),
                    ("Tags", tags_json(&s.tags)),
                    ("VersionIdsToStages", json!(stages)),
                ]))
            }
            "GetSecretValue" => {
                let s = self.find_mut(secret_id()?)?;
                if s.deletion_date.is_some() {
                    return Err(marked_for_deletion());
                }
                s.last_accessed = Some(day(ctx.now));
                let v = match (str_field(body, "VersionId"), str_field(body, "VersionStage")) {
                    (Some(id), _) => s.versions.iter().find(|v| v.id == id),
                    (None, Some(stage)) => s.stage(stage),
                    (None, None) => s.stage("AWSCURRENT"),
                }
                .ok_or_else(|| {
                    AwsError::client(
                        "ResourceNotFoundException",
                        "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
                    )
                })?;
                Ok(obj(vec![
                    ("ARN", json!(s.arn)),
                    ("Name", json!(s.name)),
                    ("VersionId", json!(v.id)),
                    ("SecretString", json!(v.secret_string)),
                    ("SecretBinary", json!(v.secret_binary)),
                    ("VersionStages", json!(v.stages)),
                    ("CreatedDate", json!(v.created)),
                ]))
            }
            "ListSecretVersionIds" => {
                let s = self.find(secret_id()?).ok_or_else(not_found)?;
                let include_deprecated = body
                    .get("IncludeDeprecated")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let versions: Vec<Value> = s
                    .versions
                    .iter()
                    .rev()
                    .filter(|v| include_deprecated || !v.stages.is_empty())
                    .map(|v| json!({"VersionId": v.id, "VersionStages": v.stages, "CreatedDate": v.created}))
                    .collect();
                Ok(json!({"ARN": s.arn, "Name": s.name, "Versions": versions}))
            }
            "DeleteSecret" => {
                let force = body
                    .get("ForceDeleteWithoutRecovery")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let window = body
                    .get("RecoveryWindowInDays")
                    .and_then(Value::as_i64)
                    .unwrap_or(30);
                if !(7..=30).contains(&window) {
                    return Err(AwsError::client(
                        "InvalidParameterException",
                        "The recovery window must be between 7 and 30 days.",
                    ));
                }
                let s = self.find_mut(secret_id()?)?;
                let date = if force {
                    ctx.now
                } else {
                    ctx.now + window as f64 * 86400.0
                };
                s.deletion_date = Some(date);
                let out = json!({"ARN": s.arn, "Name": s.name, "DeletionDate": date});
                if force {
                    let arn = s.arn.clone();
                    self.secrets.remove(&arn);
                }
                Ok(out)
            }
            "RestoreSecret" => {
                let s = self.find_mut(secret_id()?)?;
                s.deletion_date = None;
                Ok(json!({"ARN": s.arn, "Name": s.name}))
            }
            "ListSecrets" => {
                let list: Vec<Value> = self
                    .secrets
                    .values()
                    .filter(|s| s.deletion_date.is_none())
                    .map(|s| {
                        obj(vec![
                            ("ARN", json!(s.arn)),
                            ("Name", json!(s.name)),
                            ("Description", json!(s.description)),
                            ("LastChangedDate", json!(s.last_changed)),
                            ("CreatedDate", json!(s.created)),
                            ("Tags", tags_json(&s.tags)),
                        ])
                    })
                    .collect();
                Ok(json!({"SecretList": list}))
            }
            _ => Err(AwsError::client(
                "UnknownOperationException",
                format!("awsim does not implement Secrets Manager {op}"),
            )),
        }
    }
}

fn marked_for_deletion() -> AwsError {
    AwsError::client(
        "InvalidRequestException",
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

fn tags_json(tags: &[(String, String)]) -> Value {
    if tags.is_empty() {
        return Value::Null;
    }
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

impl SecretStore for SecretsState {
    fn create_managed_secret(
        &mut self,
        ctx: &Ctx,
        name: &str,
        secret_string: &str,
        tags: &[(String, String)],
    ) -> String {
        let mut name = name.to_string();
        while self.secrets.values().any(|s| s.name == name) {
            name = format!("{name}-{}", alnum(4));
        }
        let n = NewSecret {
            string: Some(secret_string.to_string()),
            tags: tags.to_vec(),
            ..Default::default()
        };
        self.create(ctx, &name, n)
            .map(|s| s.arn.clone())
            .unwrap_or_default()
    }

    fn delete_secret(&mut self, arn: &str) {
        self.secrets.remove(arn);
    }
}
