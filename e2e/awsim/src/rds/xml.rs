//! A minimal XML writer for awsQuery results (the shapes are small and fixed,
//! so a dependency would buy nothing).

use std::fmt::Display;

#[derive(Default)]
pub(crate) struct Xml(String);

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// awsQuery timestamps are ISO 8601 in UTC.
pub(crate) fn iso(epoch: f64) -> String {
    let millis = (epoch * 1000.0).round() as i64;
    chrono::DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl Xml {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn finish(self) -> String {
        self.0
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
        self
    }

    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        self.open(name);
        self.0.push_str(&escape(value));
        self.close(name)
    }

    pub fn opt(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(v) = value {
            self.text(name, v);
        }
        self
    }

    pub fn val(&mut self, name: &str, value: impl Display) -> &mut Self {
        self.text(name, &value.to_string())
    }

    pub fn time(&mut self, name: &str, epoch: f64) -> &mut Self {
        self.text(name, &iso(epoch))
    }

    pub fn list<T>(
        &mut self,
        name: &str,
        member: &str,
        items: impl IntoIterator<Item = T>,
        mut each: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        self.open(name);
        for item in items {
            self.open(member);
            each(self, item);
            self.close(member);
        }
        self.close(name)
    }

    pub fn strings<'s>(
        &mut self,
        name: &str,
        member: &str,
        items: impl IntoIterator<Item = &'s String>,
    ) -> &mut Self {
        self.open(name);
        for item in items {
            self.text(member, item);
        }
        self.close(name)
    }

    pub fn tags(&mut self, name: &str, tags: &[(String, String)]) -> &mut Self {
        self.list(name, "Tag", tags, |x, (k, v)| {
            x.text("Key", k).text("Value", v);
        })
    }
}
