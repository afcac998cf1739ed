//! Credentials in text, found the way maintained secret scanners find them: each detector
//! is a rule of gitleaks' default configuration (`config/gitleaks.toml`, rule id beside
//! it), written as prefix, alphabet and length instead of a regular expression. K8S-SEC-1
//! runs them over every string of the output: manifests (ConfigMaps and scripts included)
//! and Terraform.

/// One detector: its gitleaks rule id and whether `text` holds a match.
struct Detector {
    rule: &'static str,
    finds: fn(&str) -> bool,
}

const DETECTORS: [Detector; 6] = [
    // `-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY( BLOCK)?-----`
    Detector {
        rule: "private-key",
        finds: |text| {
            text.match_indices("-----BEGIN").any(|(at, _)| {
                let rest = &text[at + "-----BEGIN".len()..];
                let label: String = rest.chars().take_while(|c| *c != '-').take(101).collect();
                label.ends_with("PRIVATE KEY") || label.ends_with("PRIVATE KEY BLOCK")
            })
        },
    },
    // `(A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}`
    Detector {
        rule: "aws-access-token",
        finds: |text| {
            ["AKIA", "ASIA", "ABIA", "ACCA"].iter().any(|prefix| {
                token_after(text, prefix, 16, |c| {
                    c.is_ascii_uppercase() || ('2'..='7').contains(&c)
                })
            })
        },
    },
    // `AIza[\w-]{35}`
    Detector {
        rule: "gcp-api-key",
        finds: |text| {
            token_after(text, "AIza", 35, |c| {
                c.is_ascii_alphanumeric() || c == '_' || c == '-'
            })
        },
    },
    // `ghp_[0-9a-zA-Z]{36}`
    Detector {
        rule: "github-pat",
        finds: |text| token_after(text, "ghp_", 36, |c| c.is_ascii_alphanumeric()),
    },
    // `xox[baprs]-` followed by a token (slack-bot-token and its kin)
    Detector {
        rule: "slack-token",
        finds: |text| {
            ["xoxb-", "xoxa-", "xoxp-", "xoxr-", "xoxs-"]
                .iter()
                .any(|prefix| {
                    token_after(text, prefix, 10, |c| c.is_ascii_alphanumeric() || c == '-')
                })
        },
    },
    // Credentials in a URL (`scheme://user:password@host`), as `check` refuses in profiles.
    Detector {
        rule: "url-credentials",
        finds: |text| {
            text.match_indices("://").any(|(at, _)| {
                let authority = text[at + 3..]
                    .split(|c: char| c == '/' || c.is_whitespace())
                    .next()
                    .unwrap_or_default();
                authority.split_once('@').is_some_and(|(user, _)| {
                    user.split_once(':').is_some_and(|(_, p)| !p.is_empty())
                })
            })
        },
    },
];

/// At least `length` characters of `alphabet` right after an occurrence of `prefix`.
fn token_after(text: &str, prefix: &str, length: usize, alphabet: fn(char) -> bool) -> bool {
    text.match_indices(prefix).any(|(at, _)| {
        text[at + prefix.len()..]
            .chars()
            .take(length)
            .filter(|c| alphabet(*c))
            .count()
            == length
    })
}

/// The rules that find a credential in `text`.
pub fn found_in(text: &str) -> Vec<&'static str> {
    DETECTORS
        .iter()
        .filter(|d| (d.finds)(text))
        .map(|d| d.rule)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_detector_finds_its_credential_and_not_its_neighbours() {
        for (text, rules) in [
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", vec!["private-key"]),
            ("-----BEGIN PRIVATE KEY-----", vec!["private-key"]),
            (
                "begin = text.index(\"-----BEGIN CERTIFICATE-----\")",
                vec![],
            ),
            ("key: AKIAIOSFODNN7EXAMPLE", vec!["aws-access-token"]),
            ("AKIA lower", vec![]),
            (
                "AIzaSyA-1234567890abcdefghijklmnopqrstu",
                vec!["gcp-api-key"],
            ),
            (
                "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
                vec!["github-pat"],
            ),
            ("xoxb-1234567890-abcdef", vec!["slack-token"]),
            (
                "postgres://app:hunter2@db:5432/app",
                vec!["url-credentials"],
            ),
            ("https://charts.jetstack.io", vec![]),
        ] {
            assert_eq!(found_in(text), rules, "{text}");
        }
    }
}
