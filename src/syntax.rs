//! Types that carry their own syntax. Each is a string newtype of the profile whose schema
//! names a `format`; the schema validator checks that format wherever the type appears
//! (`validate.rs` registers [`FORMATS`]), and a failure becomes the type's own diagnostic.
//! Rules between fields stay in `check.rs`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::cidr::parse_cidr;
use crate::diag::Code;

/// Why a value breaks its type's syntax, as the diagnostic will say it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub code: Code,
    pub message: String,
    pub help: String,
}

impl Problem {
    fn new(code: Code, message: impl Into<String>, help: impl Into<String>) -> Self {
        Problem {
            code,
            message: message.into(),
            help: help.into(),
        }
    }
}

type Rule = fn(&str) -> Result<(), Problem>;

/// A string newtype whose schema is `{"type": "string", "format": FORMAT}`, inlined so each
/// field keeps its own description.
macro_rules! syntax_type {
    ($(#[$doc:meta])* $name:ident = $format:literal, $rule:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub const FORMAT: &'static str = $format;
            const RULE: Rule = $rule;
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "format": $format })
            }
        }
    };
}

syntax_type!(
    /// A container image reference: `[host/]path[:tag][@sha256:<64 hex>]`.
    Image = "image", image
);
syntax_type!(
    /// An image reference pinned by digest, for images with no opt-out: the exporters, the
    /// snapshot job, extensions.
    PinnedImage = "pinned-image", pinned_image
);
syntax_type!(
    /// A DNS-1123 label: a customer, namespace, cluster or node pool name.
    DnsLabel = "dns-label", dns_label
);
syntax_type!(
    /// The name of a Kubernetes object the profile refers to (a DNS-1123 subdomain).
    ObjectName = "object-name", object_name
);
syntax_type!(
    /// A DNS host name the app answers on.
    HostName = "host-name", host_name
);
syntax_type!(
    /// A client range of an allow-list: a CIDR that is not every address.
    SourceRange = "source-range", source_range
);
syntax_type!(
    /// A Cloud KMS key: `projects/P/locations/L/keyRings/R/cryptoKeys/K`.
    KmsKey = "kms-key", kms_key
);
syntax_type!(
    /// A CIDR range of the VPC (a subnetwork's primary or secondary range).
    CidrRange = "cidr", cidr_range
);
syntax_type!(
    /// The GKE control plane's range: a private IPv4 /28, or a /32 endpoint.
    ControlPlaneRange = "control-plane-range", control_plane_range
);
syntax_type!(
    /// A five-field cron schedule (UTC) or a Kubernetes `@` macro.
    Cron = "cron", cron_rule
);
syntax_type!(
    /// A GCP project ID.
    ProjectId = "gcp-project-id", project_id
);
syntax_type!(
    /// A GCP service account email.
    ServiceAccount = "gcp-service-account", service_account
);
syntax_type!(
    /// A Secret Manager secret ID.
    SecretId = "secret-manager-id", secret_id
);
syntax_type!(
    /// A Git repository URL Argo CD clones.
    RepoUrl = "git-url", repo_url
);
syntax_type!(
    /// An absolute HTTP path.
    HttpPath = "http-path", http_path
);

/// Every format the profile schema names, with its rule.
pub const FORMATS: &[(&str, Rule)] = &[
    (Image::FORMAT, Image::RULE),
    (PinnedImage::FORMAT, PinnedImage::RULE),
    (DnsLabel::FORMAT, DnsLabel::RULE),
    (ObjectName::FORMAT, ObjectName::RULE),
    (HostName::FORMAT, HostName::RULE),
    (SourceRange::FORMAT, SourceRange::RULE),
    (ControlPlaneRange::FORMAT, ControlPlaneRange::RULE),
    (CidrRange::FORMAT, CidrRange::RULE),
    (KmsKey::FORMAT, KmsKey::RULE),
    (Cron::FORMAT, Cron::RULE),
    (ProjectId::FORMAT, ProjectId::RULE),
    (ServiceAccount::FORMAT, ServiceAccount::RULE),
    (SecretId::FORMAT, SecretId::RULE),
    (RepoUrl::FORMAT, RepoUrl::RULE),
    (HttpPath::FORMAT, HttpPath::RULE),
    (Quantity::FORMAT, Quantity::RULE),
    (Bytes::FORMAT, Bytes::RULE),
];

/// The problem of `text` under `format`, when the format is one of ours and `text` breaks it.
pub fn problem(format: &str, text: &str) -> Option<Problem> {
    FORMATS
        .iter()
        .find(|(name, _)| *name == format)
        .and_then(|(_, rule)| rule(text).err())
}

/// A quantity-shaped newtype: a string or a positive number, read as its decimal text, so
/// `cpu: 1` and `cpu: "1"` mean the same.
macro_rules! quantity_type {
    ($(#[$doc:meta])* $name:ident = $format:literal, $rule:ident, $description:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(from = "ScalarText", into = "String")]
        pub struct $name(pub String);

        impl $name {
            pub const FORMAT: &'static str = $format;
            const RULE: Rule = $rule;
        }

        impl From<ScalarText> for $name {
            fn from(text: ScalarText) -> Self {
                $name(text.0)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "description": $description,
                    "type": ["string", "number"],
                    "format": $format,
                    "exclusiveMinimum": 0
                })
            }
        }
    };
}

quantity_type!(
    /// A Kubernetes resource quantity such as `250m`, `"1"` or `4Gi`.
    Quantity = "quantity", cpu_quantity,
    "A Kubernetes resource quantity, e.g. `250m`, `1`, `4Gi`."
);
quantity_type!(
    /// An amount of bytes as a Kubernetes quantity: `512Mi`, `4Gi`.
    Bytes = "bytes", byte_quantity,
    "An amount of bytes as a Kubernetes quantity, e.g. `512Mi`, `4Gi`."
);

fn cpu_quantity(text: &str) -> Result<(), Problem> {
    match quantity_value(text) {
        None => Err(Problem::new(
            Code::InvalidQuantity,
            format!("`{text}` is not a Kubernetes quantity"),
            "a number with an optional suffix: m, k, M, G, T, Ki, Mi, Gi, Ti, e.g. `250m`, `512Mi`",
        )),
        Some(value) if value <= 0.0 => Err(Problem::new(
            Code::InvalidQuantity,
            format!("`{text}` must be positive"),
            "",
        )),
        Some(_) => Ok(()),
    }
}

fn byte_quantity(text: &str) -> Result<(), Problem> {
    cpu_quantity(text)?;
    if text.ends_with('m') {
        let number = text.trim_end_matches('m');
        return Err(Problem::new(
            Code::InvalidQuantity,
            format!("`{text}` means {number} thousandths of a byte"),
            format!("did you mean `{number}Mi`?"),
        ));
    }
    Ok(())
}

/// A quantity's value in base units, or `None` when it does not parse.
pub fn quantity_value(text: &str) -> Option<f64> {
    let split = text
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '.' || ch == '+' || ch == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() || number.matches('.').count() > 1 || number[1..].contains(['+', '-']) {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent if exponent.starts_with(['e', 'E']) => {
            10f64.powi(exponent[1..].parse::<i32>().ok()?)
        }
        _ => return None,
    };
    Some(value * scale)
}

/// Whether an image reference is pinned by digest (its syntax already checked).
pub fn is_pinned(image: &str) -> bool {
    image.contains("@sha256:")
}

fn image(image: &str) -> Result<(), Problem> {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        let valid = digest.strip_prefix("sha256:").is_some_and(|hex| {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if !valid {
            return Err(Problem::new(
                Code::InvalidImage,
                format!("`{digest}` is not an image digest"),
                "a digest is `sha256:` followed by 64 lowercase hex digits",
            ));
        }
    }
    // The repository path without a tag: a colon after the last `/` starts the tag.
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repository, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    let path = repository
        .split_once('/')
        .map_or(repository, |(host, rest)| {
            if host.contains(['.', ':']) || host == "localhost" {
                rest
            } else {
                repository
            }
        });
    let path_ok = !path.is_empty()
        && path.split('/').all(|component| {
            !component.is_empty()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && component.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        });
    let tag_ok = tag.is_none_or(|t| {
        !t.is_empty()
            && t.len() <= 128
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    });
    if !path_ok || !tag_ok || image.contains(char::is_whitespace) {
        return Err(Problem::new(
            Code::InvalidImage,
            format!("`{image}` is not an image reference"),
            "e.g. `us-docker.pkg.dev/project/repo/name@sha256:<64 hex digits>`",
        ));
    }
    Ok(())
}

fn pinned_image(text: &str) -> Result<(), Problem> {
    image(text)?;
    if is_pinned(text) {
        return Ok(());
    }
    Err(Problem::new(
        Code::UnpinnedImage,
        format!("image `{text}` is not pinned by digest"),
        "append `@sha256:<digest>` so the reviewed output is what runs",
    ))
}

fn dns_label(value: &str) -> Result<(), Problem> {
    dns_label_rule(value).map_err(|why| {
        Problem::new(
            Code::InvalidName,
            format!("`{value}` is not a DNS-1123 label: {why}"),
            "lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters",
        )
    })
}

pub fn dns_label_rule(value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("it is empty");
    }
    if value.len() > 63 {
        return Err("it is longer than 63 characters");
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("it has characters other than a-z, 0-9 and -");
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err("it starts or ends with -");
    }
    Ok(())
}

/// A DNS subdomain (RFC 1123): the rule for Secrets, stores, issuers and classes alike.
fn object_name(name: &str) -> Result<(), Problem> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| dns_label_rule(label).is_ok());
    if valid {
        return Ok(());
    }
    Err(Problem::new(
        Code::InvalidName,
        format!("`{name}` is not a Kubernetes object name"),
        "lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 253",
    ))
}

pub fn is_hostname(host: &str) -> bool {
    host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn host_name(host: &str) -> Result<(), Problem> {
    if is_hostname(host) {
        return Ok(());
    }
    Err(Problem::new(
        Code::InvalidHostname,
        format!("`{host}` is not a valid DNS host name"),
        "labels of letters, digits and `-`, separated by dots, e.g. `api.acme.example.com`",
    ))
}

fn source_range(range: &str) -> Result<(), Problem> {
    match parse_cidr(range) {
        Err(why) => Err(Problem::new(
            Code::InvalidCidr,
            format!("`{range}` is not a CIDR range: {why}"),
            "write an address and a prefix length, e.g. `10.20.0.0/16`",
        )),
        Ok(cidr) if cidr.prefix == 0 => Err(Problem::new(
            Code::OpenCidr,
            format!("`{range}` allows every address"),
            "access is always limited to the customer's ranges; list them instead",
        )),
        Ok(_) => Ok(()),
    }
}

fn kms_key(key: &str) -> Result<(), Problem> {
    let parts: Vec<&str> = key.split('/').collect();
    let shape = [
        "projects",
        "",
        "locations",
        "",
        "keyRings",
        "",
        "cryptoKeys",
        "",
    ];
    let ok = parts.len() == shape.len()
        && parts.iter().zip(shape).all(|(part, fixed)| {
            if fixed.is_empty() {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            } else {
                *part == fixed
            }
        });
    if ok {
        return Ok(());
    }
    Err(Problem::new(
        Code::InvalidField,
        format!("`{key}` is not a Cloud KMS key"),
        "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY",
    ))
}

fn cidr_range(range: &str) -> Result<(), Problem> {
    parse_cidr(range).map(|_| ()).map_err(|why| {
        Problem::new(
            Code::InvalidCidr,
            format!("`{range}` is not a CIDR range: {why}"),
            "write an address and a prefix length, e.g. `10.20.0.0/20`",
        )
    })
}

fn control_plane_range(block: &str) -> Result<(), Problem> {
    match parse_cidr(block) {
        Err(why) => Err(Problem::new(
            Code::InvalidCidr,
            format!("`{block}` is not a CIDR range: {why}"),
            "GKE takes a private /28, e.g. `172.16.0.0/28`",
        )),
        Ok(cidr) if !matches!(cidr.prefix, 28 | 32) || !cidr.address.is_ipv4() => {
            Err(Problem::new(
                Code::InvalidCidr,
                format!("`{block}` is neither an IPv4 /28 nor a /32"),
                "a private cluster's control plane has a /28, e.g. `172.16.0.0/28`; \
                 a Private Service Connect cluster's endpoint is one address (/32)",
            ))
        }
        Ok(_) => Ok(()),
    }
}

fn cron_rule(schedule: &str) -> Result<(), Problem> {
    cron(schedule).map_err(|why| {
        Problem::new(
            Code::InvalidCron,
            format!("`{schedule}` is not a valid cron schedule: {why}"),
            "five fields: minute hour day-of-month month day-of-week, e.g. `0 */6 * * *`",
        )
    })
}

fn project_id(project: &str) -> Result<(), Problem> {
    let ok = (6..=30).contains(&project.len())
        && project.starts_with(|ch: char| ch.is_ascii_lowercase())
        && !project.ends_with('-')
        && project
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        return Ok(());
    }
    Err(Problem::new(
        Code::InvalidField,
        format!("`{project}` is not a GCP project ID"),
        "6–30 characters: lowercase letters, digits and `-`, starting with a letter",
    ))
}

/// `NAME@DOMAIN.gserviceaccount.com`, lowercase.
fn service_account(email: &str) -> Result<(), Problem> {
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    let valid = email.split_once('@').is_some_and(|(name, domain)| {
        word(name)
            && domain
                .strip_suffix(".gserviceaccount.com")
                .is_some_and(word)
    });
    if valid {
        return Ok(());
    }
    Err(Problem::new(
        Code::InvalidField,
        format!("`{email}` is not a GCP service account email"),
        "expected NAME@PROJECT.iam.gserviceaccount.com",
    ))
}

/// Secret Manager secret IDs: letters, digits, `-` and `_`, at most 255.
fn secret_id(key: &str) -> Result<(), Problem> {
    let valid = !key.is_empty()
        && key.len() <= 255
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        return Ok(());
    }
    Err(Problem::new(
        Code::InvalidName,
        format!("`{key}` is not a Secret Manager secret ID"),
        "1–255 letters, digits, `-` and `_`",
    ))
}

fn repo_url(url: &str) -> Result<(), Problem> {
    let ok = url.starts_with("https://") || url.starts_with("ssh://") || url.starts_with("git@");
    if ok && !url.contains(char::is_whitespace) {
        return Ok(());
    }
    Err(Problem::new(
        Code::InvalidField,
        format!("`{url}` is not a Git repository URL"),
        "use an https:// or ssh:// URL (or git@host:path)",
    ))
}

fn http_path(path: &str) -> Result<(), Problem> {
    if path.starts_with('/') && !path.contains(char::is_whitespace) {
        return Ok(());
    }
    Err(Problem::new(
        Code::InvalidField,
        format!("`{path}` is not an HTTP path"),
        "an absolute path such as `/healthz`",
    ))
}

/// Validates a five-field cron expression (or a Kubernetes `@` macro).
pub fn cron(expression: &str) -> Result<(), String> {
    if expression.starts_with('@') {
        return match expression {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight"
            | "@hourly" => Ok(()),
            _ => Err(format!("unknown macro `{expression}`")),
        };
    }
    if expression.contains("TZ=") {
        return Err("time zones are not set in the schedule (it runs in UTC)".into());
    }
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("it has {} fields, not 5", fields.len()));
    }
    const MONTHS: &[&str] = &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let specs: [(&str, u32, u32, &[&str]); 5] = [
        ("minute", 0, 59, &[]),
        ("hour", 0, 23, &[]),
        ("day of month", 1, 31, &[]),
        ("month", 1, 12, MONTHS),
        ("day of week", 0, 7, DAYS),
    ];
    for (field, (what, low, high, names)) in fields.iter().zip(specs) {
        let value = |text: &str| -> Result<u32, String> {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
                return Ok(i as u32 + if what == "month" { 1 } else { 0 });
            }
            let n: u32 = text
                .parse()
                .map_err(|_| format!("`{text}` is not a valid {what}"))?;
            if n < low || n > high {
                return Err(format!("{what} {n} is outside {low}–{high}"));
            }
            Ok(n)
        };
        for part in field.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((range, step)) => (range, Some(step)),
                None => (part, None),
            };
            if let Some(step) = step {
                let step: u32 = step
                    .parse()
                    .map_err(|_| format!("step `{step}` in the {what} field is not a number"))?;
                if step == 0 || step > high {
                    return Err(format!("step {step} in the {what} field is out of range"));
                }
            }
            match range {
                "*" | "?" if range == "*" || what.starts_with("day") => {}
                _ => match range.split_once('-') {
                    Some((from, to)) => {
                        if value(from)? > value(to)? {
                            return Err(format!(
                                "range `{range}` in the {what} field runs backwards"
                            ));
                        }
                    }
                    None => {
                        value(range)?;
                    }
                },
            }
        }
    }
    Ok(())
}

/// The text of a scalar, whatever its YAML type, so `cpu: 1` and `cpu: "1"` mean the same.
#[derive(Deserialize)]
#[serde(untagged)]
enum ScalarTextRepr {
    Text(String),
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
}

pub struct ScalarText(pub String);

impl<'de> Deserialize<'de> for ScalarText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(ScalarText(
            match ScalarTextRepr::deserialize(deserializer)? {
                ScalarTextRepr::Text(text) => text,
                ScalarTextRepr::Int(n) => n.to_string(),
                ScalarTextRepr::Uint(n) => n.to_string(),
                ScalarTextRepr::Float(n) => n.to_string(),
                ScalarTextRepr::Bool(b) => if b { "on" } else { "off" }.to_string(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_rules() {
        for good in [
            "0 */6 * * *",
            "*/15 2-4 1,15 jan-mar mon-fri",
            "0 0 * * 7",
            "@daily",
            "5 4 * * sun",
        ] {
            assert_eq!(cron(good), Ok(()), "{good}");
        }
        for bad in [
            "0 */6 * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "@often",
            "TZ=UTC 0 * * * *",
            "a * * * *",
        ] {
            assert!(cron(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn quantity_values() {
        assert_eq!(quantity_value("250m"), Some(0.25));
        assert_eq!(quantity_value("1"), Some(1.0));
        assert_eq!(quantity_value("512Mi"), Some(512.0 * 1024.0 * 1024.0));
        assert_eq!(quantity_value("1e3"), Some(1000.0));
        assert_eq!(quantity_value("1.5Gi"), Some(1.5 * 1024f64.powi(3)));
        for bad in ["", "Mi", "1.2.3", "1X", "1-2", "lots"] {
            assert_eq!(quantity_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn hostnames() {
        assert!(is_hostname("api.acme.example.com"));
        assert!(!is_hostname("localhost"));
        assert!(!is_hostname("*.acme.example.com"));
        assert!(!is_hostname("-api.example.com"));
        assert!(!is_hostname("API.example.com"));
    }
}
