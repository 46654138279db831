//! Process-level machinery: CRD installation, leader election, the admin
//! server and the per-object reconcile log it serves.

pub mod admin;
pub mod crds;
pub mod leader;
pub mod reconciles;
