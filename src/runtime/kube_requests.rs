//! berth's own requests to the API server, counted by verb and resource
//! (`berth_kube_requests_total`): what shows a steady state that GETs a
//! Namespace or writes status on every resync. Counted in the client's
//! request path, so nothing berth sends escapes it.

use http::{Method, Request};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub verb: &'static str,
    /// `ecsservices`, `ecsservices/status`, `namespaces`, `leases`, ...:
    /// bounded by the resource types berth uses (never a name).
    pub resource: String,
}

#[derive(Clone, Default)]
pub struct KubeRequests(Family<RequestLabels, Counter>);

impl KubeRequests {
    pub fn register(registry: &mut Registry) -> Self {
        let me = Self::default();
        registry.register(
            "berth_kube_requests",
            "Requests berth sent to the Kubernetes API server, by verb and resource",
            me.0.clone(),
        );
        me
    }

    pub fn count<B>(&self, req: &Request<B>) {
        let (verb, resource) = classify(req.method(), req.uri().path(), req.uri().query());
        self.0
            .get_or_create(&RequestLabels { verb, resource })
            .inc();
    }
}

/// The Kubernetes verb and resource (with subresource) of a request.
pub fn classify(method: &Method, path: &str, query: Option<&str>) -> (&'static str, String) {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    // /api/v1/... or /apis/GROUP/VERSION/...
    let rest: &[&str] = match segments.first() {
        Some(&"api") => segments.get(2..).unwrap_or_default(),
        Some(&"apis") => segments.get(3..).unwrap_or_default(),
        _ => return ("other", "other".into()),
    };
    // namespaces/NS/RESOURCE/NAME/SUB, or RESOURCE/NAME/SUB (cluster scope,
    // including namespaces/NAME itself).
    let rest = match rest {
        ["namespaces", _, resource, tail @ ..] => {
            let mut r = vec![*resource];
            r.extend_from_slice(tail);
            r
        }
        _ => rest.to_vec(),
    };
    let Some(resource) = rest.first() else {
        return ("other", "other".into());
    };
    let named = rest.len() > 1;
    let resource = match rest.get(2) {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_string(),
    };
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    let verb = match *method {
        Method::GET if watch => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    };
    (verb, resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_resources() {
        let cases = [
            (
                Method::GET,
                "/api/v1/namespaces/shop",
                None,
                ("get", "namespaces"),
            ),
            (
                Method::GET,
                "/api/v1/namespaces",
                Some("watch=true&resourceVersion=1"),
                ("watch", "namespaces"),
            ),
            (
                Method::GET,
                "/apis/berth.dev/v1alpha1/namespaces/shop/migrationjobs",
                None,
                ("list", "migrationjobs"),
            ),
            (
                Method::GET,
                "/apis/berth.dev/v1alpha1/ecsservices",
                Some("watch=true"),
                ("watch", "ecsservices"),
            ),
            (
                Method::PATCH,
                "/apis/berth.dev/v1alpha1/namespaces/shop/ecsservices/api/status",
                Some("fieldManager=berth"),
                ("patch", "ecsservices/status"),
            ),
            (
                Method::POST,
                "/apis/events.k8s.io/v1/namespaces/shop/events",
                None,
                ("create", "events"),
            ),
            (
                Method::PUT,
                "/apis/coordination.k8s.io/v1/namespaces/berth/leases/berth",
                None,
                ("update", "leases"),
            ),
            (
                Method::DELETE,
                "/apis/berth.dev/v1alpha1/namespaces/shop/migrationjobs/old",
                None,
                ("delete", "migrationjobs"),
            ),
            (Method::GET, "/version", None, ("other", "other")),
        ];
        for (method, path, query, (verb, resource)) in cases {
            assert_eq!(
                classify(&method, path, query),
                (verb, resource.to_string()),
                "{method} {path}"
            );
        }
    }
}
