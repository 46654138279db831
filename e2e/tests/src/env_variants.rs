//! The ways tests vary their [`Env`]: a slower or faster awsim clock, berth
//! started later (after set-up it must not see yet), a namespace annotated
//! before berth first reads it.

use super::{Env, Options};

impl Env {
    /// An Env whose awsim clock runs `time_scale` virtual seconds per real one.
    pub async fn with_time_scale(name: &str, time_scale: f64) -> Env {
        Env::with_options(
            name,
            Options {
                time_scale,
                ..Options::default()
            },
        )
        .await
    }

    /// An Env without a berth yet: [`Env::start_berth`] starts it.
    pub async fn without_berth(name: &str) -> Env {
        Env::with_options(
            name,
            Options {
                start_berth: false,
                ..Options::default()
            },
        )
        .await
    }

    /// An Env whose namespace carries `annotations` (merged, as a cluster
    /// admin would) before its berth (with `options`) starts.
    pub async fn with_annotated_namespace(
        name: &str,
        options: Options,
        annotations: serde_json::Value,
    ) -> Env {
        let mut env = Env::with_options(
            name,
            Options {
                start_berth: false,
                ..options
            },
        )
        .await;
        env.annotate_namespace(&env.home, annotations).await;
        env.start_berth();
        env
    }
}
