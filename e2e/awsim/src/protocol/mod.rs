//! The two wire protocols awsim speaks: awsJson1_1 (ECS, ECR, Cloud Map,
//! Secrets Manager, CloudWatch Logs) and awsQuery (RDS, STS).

pub mod json;
pub mod query;

use axum::http::HeaderMap;

/// Which AWS service a request is for, decided by the protocol routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Ecs,
    Ecr,
    SecretsManager,
    Logs,
    CloudMap,
    Rds,
    Sts,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Ecs => "ecs",
            Service::Ecr => "ecr",
            Service::SecretsManager => "secretsmanager",
            Service::Logs => "logs",
            Service::CloudMap => "servicediscovery",
            Service::Rds => "rds",
            Service::Sts => "sts",
        }
    }

    /// The error code each service uses for throttling, as the SDKs
    /// classify it.
    pub fn throttling_code(self) -> &'static str {
        match self {
            Service::Rds | Service::Sts => "Throttling",
            _ => "ThrottlingException",
        }
    }

    /// The code of a server-side failure, as each service models it.
    pub fn server_error_code(self) -> &'static str {
        match self {
            Service::Ecs | Service::Ecr => "ServerException",
            Service::SecretsManager => "InternalServiceError",
            Service::Logs => "ServiceUnavailableException",
            Service::CloudMap => "ServiceUnavailable",
            Service::Rds | Service::Sts => "InternalFailure",
        }
    }

    /// Maps the `X-Amz-Target` prefix of an awsJson request to its service.
    pub fn from_target_prefix(prefix: &str) -> Option<Service> {
        match prefix {
            "AmazonEC2ContainerServiceV20141113" => Some(Service::Ecs),
            "AmazonEC2ContainerRegistry_V20150921" => Some(Service::Ecr),
            "secretsmanager" => Some(Service::SecretsManager),
            "Logs_20140328" => Some(Service::Logs),
            "Route53AutoNaming_v20170314" => Some(Service::CloudMap),
            _ => None,
        }
    }
}

/// The region of the SigV4 credential scope
/// (`Credential=AKID/20240101/eu-west-1/ecs/aws4_request`). Signatures are
/// not verified: any signed or unsigned request is accepted.
pub fn region_from_auth(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    let scope = cred.split([',', ' ']).next()?;
    let region = scope.split('/').nth(2)?;
    (!region.is_empty()).then(|| region.to_string())
}

/// The SDK's `AppName` (`app/berth` in the user agent), used to tell the
/// controller's calls from a test's own calls.
pub fn caller_from_headers(headers: &HeaderMap) -> String {
    for name in ["x-amz-user-agent", "user-agent"] {
        if let Some(ua) = headers.get(name).and_then(|v| v.to_str().ok()) {
            if let Some(app) = ua.split_whitespace().find_map(|t| t.strip_prefix("app/")) {
                return app.to_string();
            }
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_and_caller() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/ecs/aws4_request, SignedHeaders=host, Signature=x"
                .parse()
                .unwrap(),
        );
        h.insert(
            "x-amz-user-agent",
            "aws-sdk-rust/1.3.0 ua/2.1 api/ecs/1.0 os/linux lang/rust/1.94 app/berth"
                .parse()
                .unwrap(),
        );
        assert_eq!(region_from_auth(&h).as_deref(), Some("eu-west-1"));
        assert_eq!(caller_from_headers(&h), "berth");
    }
}
