//! What berth asked of AWS, read from awsim's call log (every call with its
//! service, action, params, outcome and time).

use serde_json::Value;

use super::Env;

impl Env {
    /// berth's calls, oldest first.
    pub fn berth_call_log(&self) -> Vec<Value> {
        self.awsim
            .call_log(Some("berth"))
            .as_array()
            .cloned()
            .expect("awsim's call log is a list")
    }

    /// How many calls berth has made: pass it to
    /// [`Env::berth_call_log_since`] to read the calls after this point.
    pub fn berth_call_mark(&self) -> usize {
        self.berth_call_log().len()
    }

    /// berth's calls after `mark` (from [`Env::berth_call_mark`]).
    pub fn berth_call_log_since(&self, mark: usize) -> Vec<Value> {
        self.berth_call_log()[mark..].to_vec()
    }

    /// The outcomes (`ok`, `lost`, an error code…) of berth's calls to
    /// `service:action`, oldest first.
    pub fn berth_outcomes(&self, service: &str, action: &str) -> Vec<String> {
        self.berth_call_log()
            .iter()
            .filter(|c| c["service"] == service && c["action"] == action)
            .map(|c| c["outcome"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// berth's calls whose response awsim dropped, as `service:action`.
    pub fn berth_lost_calls(&self) -> Vec<String> {
        self.berth_call_log()
            .iter()
            .filter(|c| c["outcome"] == "lost")
            .map(|c| {
                format!(
                    "{}:{}",
                    c["service"].as_str().unwrap(),
                    c["action"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// The role ARNs of every AssumeRole call awsim saw (any caller: STS
    /// is called with berth's own credentials, the calls after it as the
    /// role).
    pub fn assumed_roles(&self) -> Vec<String> {
        self.awsim
            .call_log(None)
            .as_array()
            .expect("awsim's call log is a list")
            .iter()
            .filter(|c| c["action"] == "AssumeRole")
            .filter_map(|c| c["params"]["RoleArn"].as_str().map(str::to_string))
            .collect()
    }

    /// All of berth's calls to `service` (awsim's counters, any action).
    pub fn berth_service_calls(&self, service: &str) -> u64 {
        self.awsim.calls(Some("berth"))["byService"][service]
            .as_object()
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0)
    }
}
