//! Idempotency tokens. Each one is derived from what identifies one intent
//! (a resource's uid, a run and its attempt), so a retry after a crash or a
//! lost response sends the same token, and each fits the length the API
//! documents.

use sha2::{Digest, Sha256};

/// ECS `CreateService.clientToken`: "Up to 36 ASCII characters in the range
/// of 33-126 (inclusive) are allowed."
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html>
pub const ECS_CREATE_SERVICE_MAX: usize = 36;
/// ECS `RunTask.clientToken`: "Up to 64 characters are allowed."
/// <https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RunTask.html>
pub const ECS_RUN_TASK_MAX: usize = 64;
/// Cloud Map `CreateService.CreatorRequestId`: length 0-64.
/// <https://docs.aws.amazon.com/cloud-map/latest/api/API_CreateService.html>
pub const CLOUD_MAP_CREATOR_REQUEST_MAX: usize = 64;

/// `berth-` and the hex sha256 of `parts`, cut to `max` characters
/// (at least 22 hex characters remain for any `max` >= 28).
pub fn token(max: usize, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        // A separator that no part contains keeps ("ab","c") apart from ("a","bc").
        h.update([0u8]);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let mut out = format!("berth-{hex}");
    out.truncate(max);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_limits_and_deterministic() {
        let uid = "0b6a1f3e-6a4f-4d2b-9c1e-2f6f0a1b2c3d";
        let t = token(ECS_CREATE_SERVICE_MAX, &[uid, "cluster", "api"]);
        assert_eq!(t.len(), 36);
        assert_eq!(t, token(ECS_CREATE_SERVICE_MAX, &[uid, "cluster", "api"]));
        assert_ne!(t, token(ECS_CREATE_SERVICE_MAX, &[uid, "cluster", "web"]));
        assert!(t.bytes().all(|b| (33..=126).contains(&b)));
        assert_eq!(token(ECS_RUN_TASK_MAX, &["x"]).len(), 64);
        assert_ne!(token(64, &["ab", "c"]), token(64, &["a", "bc"]));
    }
}
