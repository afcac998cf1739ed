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
    /// A Cloud Monitoring notification channel: `projects/P/notificationChannels/ID`.
    NotificationChannel = "notification-channel", notification_channel
);
syntax_type!(
    /// A Compute Engine zone: `<region>-<letter>`, e.g. `us-central1-a`.
    Zone = "gcp-zone", gcp_zone
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
    /// A Compute Engine resource name (a network, a subnetwork, a secondary range).
    GceName = "gce-name", gce_name
);
syntax_type!(
    /// A GKE cluster's name.
    ClusterName = "gke-cluster-name", gke_cluster_name
);
syntax_type!(
    /// A GCS bucket name without dots (those need a verified domain).
    BucketName = "gcs-bucket", bucket_name
);
syntax_type!(
    /// A moment in UTC, RFC 3339 to the second: `2026-12-04T20:00:00Z`.
    Timestamp = "utc-timestamp", utc_timestamp
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
    (NotificationChannel::FORMAT, NotificationChannel::RULE),
    (Zone::FORMAT, Zone::RULE),
    (Cron::FORMAT, Cron::RULE),
    (ProjectId::FORMAT, ProjectId::RULE),
    (ServiceAccount::FORMAT, ServiceAccount::RULE),
    (SecretId::FORMAT, SecretId::RULE),
    (RepoUrl::FORMAT, RepoUrl::RULE),
    (HttpPath::FORMAT, HttpPath::RULE),
    (BucketName::FORMAT, BucketName::RULE),
    (GceName::FORMAT, GceName::RULE),
    (ClusterName::FORMAT, ClusterName::RULE),
    (Timestamp::FORMAT, Timestamp::RULE),
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
        Ok(cidr) if cidr.prefix == 32 => Err(Problem::new(
            Code::InvalidCidr,
            format!(
                "`{block}` is one address: GKE assigns a Private Service Connect endpoint, it cannot be given"
            ),
            "name the subnetwork GKE takes the endpoint from in `privateEndpointSubnetwork` and give its range here, e.g. `10.128.16.0/28`",
        )),
        Ok(cidr) if !(8..=28).contains(&cidr.prefix) || !cidr.address.is_ipv4() => {
            Err(Problem::new(
                Code::InvalidCidr,
                format!("`{block}` is not an IPv4 range of a /28 or wider"),
                "a private cluster's control plane has a /28, e.g. `172.16.0.0/28`; \
                 a Private Service Connect cluster's is its endpoint subnetwork's range",
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
    if !valid {
        return Err(Problem::new(
            Code::InvalidField,
            format!("`{email}` is not a GCP service account email"),
            "expected NAME@PROJECT.iam.gserviceaccount.com",
        ));
    }
    // A user-managed account is created by the compiled Terraform with NAME as its
    // `account_id`, which the provider checks as an RFC 1035 name of 6-30 characters
    // (`google_service_account`, `verify.ValidateRFC1035Name(6, 30)`).
    match email.split_once('@') {
        Some((name, domain)) if domain.ends_with(".iam.gserviceaccount.com") => {
            service_account_id(name).map_err(|why| {
                Problem::new(
                    Code::InvalidField,
                    format!("`{name}` cannot be a service account ID: {why}"),
                    "6–30 characters: lowercase letters, digits and `-`, starting with a letter and not ending with `-` (the Terraform google provider refuses others at plan)",
                )
            })
        }
        _ => Ok(()),
    }
}

/// The google provider's rule for `google_service_account.account_id`: an RFC 1035 label
/// of 6 to 30 characters; why not, when it is not one.
pub fn service_account_id(id: &str) -> Result<(), String> {
    let bytes = id.as_bytes();
    if !(6..=30).contains(&bytes.len()) {
        return Err(format!("it has {} characters", bytes.len()));
    }
    if !bytes[0].is_ascii_lowercase() {
        return Err("it does not start with a lowercase letter".into());
    }
    if bytes[bytes.len() - 1] == b'-' {
        return Err("it ends with `-`".into());
    }
    match bytes
        .iter()
        .find(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || **b == b'-'))
    {
        Some(b) => Err(format!("`{}` is not allowed", *b as char)),
        None => Ok(()),
    }
}

/// Secret Manager secret IDs: letters, digits, `-` and `_`, at most 255.
/// A zone is its region (`<geography>-<area><number>`, e.g. `europe-west1`) and a letter.
pub fn gcp_zone(zone: &str) -> Result<(), Problem> {
    let word = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase());
    let parts: Vec<&str> = zone.split('-').collect();
    let valid = match parts.as_slice() {
        [geography, area, letter] => {
            let digits = area.trim_start_matches(|c: char| c.is_ascii_lowercase());
            word(geography)
                && digits.len() < area.len()
                && !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit())
                && letter.len() == 1
                && word(letter)
        }
        _ => false,
    };
    if valid {
        return Ok(());
    }
    Err(Problem::new(
        Code::InvalidField,
        format!("`{zone}` is not a Compute Engine zone"),
        "a zone is the region and a letter, e.g. `us-central1-a`",
    ))
}

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

/// GCS's naming rules for a bucket without dots: 3–63 lowercase letters, digits, `-` and
/// `_`, starting and ending with a letter or digit, not starting with `goog` and not
/// containing `google` (cloud.google.com/storage/docs/buckets#naming).
/// A Compute Engine name, as the provider validates it (`verify.ValidateGCEName`,
/// `^(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)$`, docs/infrastructure.md) and the API requires:
/// RFC 1035, 1 to 63 characters.
pub fn gce_name_rule(name: &str) -> Result<(), &'static str> {
    dns_label_rule(name)?;
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err("it does not start with a letter");
    }
    Ok(())
}

fn gce_name(name: &str) -> Result<(), Problem> {
    gce_name_rule(name).map_err(|why| {
        Problem::new(
            Code::InvalidField,
            format!("`{name}` is not a Compute Engine name: {why}"),
            "a lowercase letter, then lowercase letters, digits and `-`, not ending with `-`, at most 63 characters",
        )
    })
}

/// `<customer>-<what>` in at most `max` characters: the customer's part is cut to fit (and
/// never left ending in `-`), for the GCP names gitopsc makes from a customer's.
pub fn named_after(customer: &str, what: &str, max: usize) -> String {
    let room = max.saturating_sub(what.len() + 1);
    let cut: String = customer.chars().take(room).collect();
    format!("{}-{what}", cut.trim_end_matches('-'))
}

/// A GKE cluster's name, as the provider validates `google_container_cluster.name`: at most
/// 40 characters of lowercase letters, digits and `-`, starting with a letter and ending
/// with a letter or digit (resource_container_cluster.go, docs/infrastructure.md).
pub fn gke_cluster_name_rule(name: &str) -> Result<(), &'static str> {
    if name.len() > 40 {
        return Err("it is longer than 40 characters");
    }
    gce_name_rule(name)
}

fn gke_cluster_name(name: &str) -> Result<(), Problem> {
    gke_cluster_name_rule(name).map_err(|why| {
        Problem::new(
            Code::InvalidField,
            format!("`{name}` cannot be a GKE cluster's name: {why}"),
            "a lowercase letter, then lowercase letters, digits and `-`, not ending with `-`, at most 40 characters",
        )
    })
}

pub fn bucket_name(name: &str) -> Result<(), Problem> {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && edge(name.chars().next())
        && edge(name.chars().last())
        && !name.starts_with("goog")
        && !name.contains("google");
    if ok {
        return Ok(());
    }
    Err(Problem::new(
        Code::InvalidName,
        format!("`{name}` is not a GCS bucket name"),
        "3–63 lowercase letters, digits, `-` and `_`, starting and ending with a letter or digit; not starting with `goog`, not containing `google`",
    ))
}

/// `projects/<project ID or number>/notificationChannels/<numeric ID>`, as Cloud Monitoring
/// names a channel.
fn notification_channel(name: &str) -> Result<(), Problem> {
    let ok = match name.split('/').collect::<Vec<_>>().as_slice() {
        ["projects", project, "notificationChannels", id] => {
            (project_id(project).is_ok() || project.bytes().all(|b| b.is_ascii_digit()))
                && !project.is_empty()
                && !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(Problem::new(
        Code::InvalidField,
        format!("`{name}` is not a Cloud Monitoring notification channel"),
        "projects/PROJECT/notificationChannels/ID, as `gcloud beta monitoring channels list --format='value(name)'` prints it",
    ))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, a real date and time.
fn utc_timestamp(text: &str) -> Result<(), Problem> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        text.get(range)
            .filter(|d| d.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|d| d.parse().ok())
    };
    let shape = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    let fields = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    );
    if let (true, (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second))) =
        (shape, fields)
    {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            1..=12 => 31,
            _ => 0,
        };
        if (1..=days).contains(&day) && hour < 24 && minute < 60 && second < 60 {
            return Ok(());
        }
    }
    Err(Problem::new(
        Code::InvalidField,
        format!("`{text}` is not a UTC timestamp"),
        "write it as RFC 3339 in UTC to the second, e.g. `2026-12-04T20:00:00Z`",
    ))
}

/// Seconds since 1970-01-01T00:00:00Z of a timestamp `utc_timestamp` accepts.
pub fn timestamp_seconds(text: &str) -> Option<i64> {
    utc_timestamp(text).ok()?;
    let field = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (field(0..4)?, field(5..7)?, field(8..10)?);
    // Days from the civil date (H. Hinnant's algorithm), March-based years.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + field(11..13)? * 3600 + field(14..16)? * 60 + field(17..19)?)
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

/// The longest time, in minutes, between two runs of a valid cron schedule (UTC): what a
/// schedule promises as a recovery point. Minute by minute over two weeks when the schedule
/// repeats weekly, over four years (a leap day included) when it names days of the month
/// or months.
pub fn cron_max_gap_minutes(expression: &str) -> Option<u64> {
    let expanded = match expression {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    let [minute, hour, dom, month, dow] = fields.as_slice() else {
        return None;
    };
    let minutes = cron_set(minute, 0, 59, &[])?;
    let hours = cron_set(hour, 0, 23, &[])?;
    let doms = cron_set(dom, 1, 31, &[])?;
    const MONTHS: &[&str] = &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let months = cron_set(month, 1, 12, MONTHS)?;
    let mut dows = cron_set(
        dow,
        0,
        7,
        &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    )?;
    if dows[7] {
        dows[0] = true;
    }
    let (dom_any, dow_any) = (*dom == "*" || *dom == "?", *dow == "*" || *dow == "?");
    let weekly = dom_any && *month == "*";
    let days: i64 = if weekly { 14 } else { 4 * 366 };
    let mut last: Option<i64> = None;
    let mut first: Option<i64> = None;
    let mut gap = 0i64;
    // Day 0 is 2024-01-01, a Monday.
    for day in 0..days {
        let (_, m, d) = civil_from_days(19_723 + day);
        let weekday = ((day + 1) % 7) as usize;
        let day_ok = match (dom_any, dow_any) {
            (true, true) => true,
            (true, false) => dows[weekday],
            (false, true) => doms[d as usize],
            (false, false) => doms[d as usize] || dows[weekday],
        };
        if !(day_ok && months[m as usize]) {
            continue;
        }
        for h in (0..24).filter(|h| hours[*h]) {
            for min in (0..60).filter(|min| minutes[*min]) {
                let at = day * 1440 + (h as i64) * 60 + min as i64;
                if let Some(previous) = last {
                    gap = gap.max(at - previous);
                }
                first.get_or_insert(at);
                last = Some(at);
            }
        }
    }
    // The wrap from the last run of the horizon to the first of the next.
    gap = gap.max(first? + days * 1440 - last?);
    u64::try_from(gap).ok()
}

/// The values a cron field selects, as flags indexed by value.
fn cron_set(field: &str, low: u32, high: u32, names: &[&str]) -> Option<Vec<bool>> {
    let mut set = vec![false; high as usize + 1];
    let value = |text: &str| -> Option<u32> {
        match names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
            Some(i) => Some(i as u32 + if low == 1 { 1 } else { 0 }),
            None => text.parse().ok(),
        }
    };
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => (range, step.parse().ok()?),
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" | "?" => (low, high),
            _ => match range.split_once('-') {
                Some((from, to)) => (value(from)?, value(to)?),
                None if step > 1 => (value(range)?, high),
                None => (value(range)?, value(range)?),
            },
        };
        for v in (from..=to).step_by(step as usize) {
            *set.get_mut(v as usize)? = true;
        }
    }
    Some(set)
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's civil_from_days).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
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
    fn timestamps_count_seconds_from_the_epoch() {
        for (text, seconds) in [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2000-03-01T00:00:00Z", Some(951_868_800)),
            ("2024-02-29T23:59:59Z", Some(1_709_251_199)),
            ("2026-12-04T20:00:00Z", Some(1_796_414_400)),
            ("2026-02-29T00:00:00Z", None),
            ("2026-12-04 20:00:00Z", None),
        ] {
            assert_eq!(timestamp_seconds(text), seconds, "{text}");
        }
    }

    #[test]
    fn cron_gaps() {
        assert_eq!(cron_max_gap_minutes("0 */6 * * *"), Some(360));
        assert_eq!(cron_max_gap_minutes("*/15 * * * *"), Some(15));
        assert_eq!(cron_max_gap_minutes("0 1 * * *"), Some(1440));
        assert_eq!(cron_max_gap_minutes("0 1 * * mon-fri"), Some(3 * 1440));
        assert_eq!(cron_max_gap_minutes("@weekly"), Some(7 * 1440));
        assert_eq!(cron_max_gap_minutes("0 0,6 * * *"), Some(18 * 60));
        // Monthly: the longest gap runs over a 31-day month.
        assert_eq!(cron_max_gap_minutes("0 0 1 * *"), Some(31 * 1440));
        assert_eq!(cron_max_gap_minutes("@yearly"), Some(366 * 1440));
    }

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

    #[test]
    fn notification_channels() {
        for good in [
            "projects/acme-prod-4821/notificationChannels/1480039427364209311",
            "projects/123456789012/notificationChannels/42",
        ] {
            assert!(notification_channel(good).is_ok(), "{good}");
        }
        for bad in [
            "projects/acme-prod-4821/notificationChannels/",
            "projects/acme-prod-4821/notificationChannels/abc",
            "projects//notificationChannels/42",
            "projects/Acme/notificationChannels/42",
            "acme-prod-4821/notificationChannels/42",
            "projects/acme-prod-4821/alertPolicies/42",
            "projects/acme-prod-4821/notificationChannels/42/extra",
        ] {
            assert!(notification_channel(bad).is_err(), "{bad}");
        }
    }
}
