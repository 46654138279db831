//! Process-level machinery: CRD installation, leader election and the
//! admin server.

pub mod admin;
pub mod crds;
pub mod leader;
