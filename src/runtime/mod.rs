//! Process-level machinery: CRD installation, (later) leader election and
//! the admin server.

pub mod crds;
