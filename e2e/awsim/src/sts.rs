//! STS (awsQuery): enough for SDK credential chains and `aws sts
//! get-caller-identity` checks. Credentials are dummies; nothing verifies them.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};

use crate::core::{AwsError, AwsResult, Ctx};
use crate::protocol::query::escape;
use crate::util::{alnum, hex_id};

pub fn handle(ctx: &Ctx, action: &str, params: &BTreeMap<String, String>) -> AwsResult<String> {
    match action {
        "GetCallerIdentity" => Ok(format!(
            "<Arn>arn:aws:iam::{acct}:user/awsim</Arn><UserId>AIDAAWSIMEXAMPLE</UserId><Account>{acct}</Account>",
            acct = ctx.account_id
        )),
        "AssumeRole" => {
            let role = params
                .get("RoleArn")
                .ok_or_else(|| AwsError::client("ValidationError", "RoleArn is required"))?;
            let session = params
                .get("RoleSessionName")
                .ok_or_else(|| AwsError::client("ValidationError", "RoleSessionName is required"))?;
            let duration: f64 = params
                .get("DurationSeconds")
                .and_then(|d| d.parse().ok())
                .unwrap_or(3600.0);
            let role_name = role.rsplit('/').next().unwrap_or("role");
            let expiration = Utc
                .timestamp_opt((ctx.now + duration) as i64, 0)
                .single()
                .unwrap_or_else(Utc::now)
                .format("%Y-%m-%dT%H:%M:%SZ");
            let role_id = format!("AROA{}", hex_id(16).to_uppercase());
            Ok(format!(
                "<Credentials><AccessKeyId>ASIA{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
                 <SessionToken>{}</SessionToken><Expiration>{expiration}</Expiration></Credentials>\
                 <AssumedRoleUser><AssumedRoleId>{role_id}:{s}</AssumedRoleId>\
                 <Arn>arn:aws:sts::{acct}:assumed-role/{r}/{s}</Arn></AssumedRoleUser>",
                hex_id(16).to_uppercase(),
                alnum(40),
                alnum(100),
                acct = ctx.account_id,
                r = escape(role_name),
                s = escape(session),
            ))
        }
        _ => Err(AwsError::client(
            "InvalidAction",
            format!("awsim does not implement STS {action}"),
        )),
    }
}
