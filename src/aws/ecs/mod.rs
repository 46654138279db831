//! The ECS adapter: requests built from berth's API types, answers turned
//! into berth's view types, every call through the pipeline.

pub mod convert;
pub mod deployments;
pub mod describe;
pub mod service_tags;
pub mod services;
pub mod tasks;
pub mod views;

pub use deployments::ServiceDeploymentView;
pub use describe::Batches;
pub use views::{DeploymentView, ServiceView};
