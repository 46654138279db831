//! Identity and naming: stable account-derived ids (VPC, security group,
//! KMS key, host-name hash), random resource ids and ARN parsing.

use super::*;
use crate::util::{random_from, HEX, UPPER_ALNUM};

pub(super) fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The per-account, per-region part of RDS host names (`cluster-<hash>`).
pub(super) fn account_hash(ctx: &Ctx) -> String {
    let mut v = fnv(&format!("{}/{}", ctx.account_id, ctx.region));
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::from("c");
    for _ in 0..11 {
        out.push(alphabet[(v % 36) as usize] as char);
        v /= 36;
    }
    out
}

pub(super) fn hex_of(seed: &str, len: usize) -> String {
    let mut out = String::new();
    let mut n = 0u32;
    while out.len() < len {
        out.push_str(&format!("{:016x}", fnv(&format!("{seed}#{n}"))));
        n += 1;
    }
    out.truncate(len);
    out
}

/// RDS in awsim knows nothing of EC2, so every resource lives in one
/// stable, account-derived VPC.
pub(super) fn vpc_of(ctx: &Ctx) -> String {
    format!(
        "vpc-{}",
        hex_of(&format!("vpc/{}/{}", ctx.account_id, ctx.region), 17)
    )
}

pub(super) fn default_security_group(ctx: &Ctx) -> String {
    format!(
        "sg-{}",
        hex_of(&format!("sg/{}/{}", ctx.account_id, ctx.region), 17)
    )
}

/// The ARN of the AWS-managed key `aws/<service>`.
pub(super) fn default_kms_key(ctx: &Ctx, service: &str) -> String {
    let h = hex_of(
        &format!("kms/{service}/{}/{}", ctx.account_id, ctx.region),
        32,
    );
    format!(
        "arn:aws:kms:{}:{}:key/{}-{}-{}-{}-{}",
        ctx.region,
        ctx.account_id,
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(super) fn hosted_zone(_ctx: &Ctx) -> &'static str {
    "Z2R2ITUGPM61AM"
}

pub(super) fn azs(ctx: &Ctx) -> Vec<String> {
    ["a", "b", "c"]
        .iter()
        .map(|s| format!("{}{s}", ctx.region))
        .collect()
}

/// Accepts a bare identifier or an ARN whose resource part is `marker<id>`.
pub(super) fn last_arn_segment<'s>(s: &'s str, marker: &str) -> &'s str {
    if s.starts_with("arn:") {
        if let Some(pos) = s.rfind(marker) {
            return &s[pos + marker.len()..];
        }
    }
    s
}

pub(super) fn random_upper(len: usize) -> String {
    random_from(UPPER_ALNUM, len)
}

pub(super) fn random_hex(len: usize) -> String {
    random_from(HEX, len)
}

pub(super) fn random_password(len: usize) -> String {
    random_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%^&*()-_=+",
        len,
    )
}
