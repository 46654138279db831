//! berth: a Kubernetes controller that delivers applications to Amazon ECS.
#![forbid(unsafe_code)]

pub mod api;
pub mod aws;
pub mod cli;
pub mod controller;
pub mod hash;
pub mod runtime;
pub mod telemetry;
