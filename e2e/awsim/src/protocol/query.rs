//! awsQuery: form-encoded `Action`/`Version` requests answered with XML
//! `<{Action}Response>` envelopes or `<ErrorResponse>`.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::core::AwsError;

pub const RDS_VERSION: &str = "2014-10-31";
pub const STS_VERSION: &str = "2011-06-15";

pub fn namespace(version: &str) -> &'static str {
    match version {
        STS_VERSION => "https://sts.amazonaws.com/doc/2011-06-15/",
        _ => "http://rds.amazonaws.com/doc/2014-10-31/",
    }
}

pub fn parse_form(body: &[u8]) -> Option<BTreeMap<String, String>> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .map(|pairs| pairs.into_iter().collect())
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

fn xml(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml"));
    resp
}

pub fn ok(action: &str, version: &str, inner: &str, request_id: &str) -> Response {
    let ns = namespace(version);
    xml(
        StatusCode::OK,
        format!(
            "<{action}Response xmlns=\"{ns}\"><{action}Result>{inner}</{action}Result>\
             <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
        ),
    )
}

pub fn error(err: &AwsError, version: &str, request_id: &str) -> Response {
    let ns = namespace(version);
    let kind = if err.sender_fault {
        "Sender"
    } else {
        "Receiver"
    };
    let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
    xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{ns}\"><Error><Type>{kind}</Type><Code>{}</Code>\
             <Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
            escape(&err.code),
            escape(&err.message)
        ),
    )
}
