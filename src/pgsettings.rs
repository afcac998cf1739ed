//! PostgreSQL's parameters (`src/data/pg_settings.tsv`) and the value rules of
//! `postgresql.conf`: names, booleans, enums, integers and reals with their units and bounds.

use std::sync::OnceLock;

/// One settable parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub name: String,
    /// `bool`, `integer`, `real`, `enum` or `string`, as in `pg_settings.vartype`.
    pub vartype: String,
    /// Base unit (`8kB`, `kB`, `ms`, `s`, `min`, …) or empty.
    pub unit: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub enumvals: Vec<String>,
    /// First and last major version that has it.
    pub since: u32,
    pub until: Option<u32>,
}

/// The committed parameter table.
pub fn table() -> &'static [Setting] {
    static TABLE: OnceLock<Vec<Setting>> = OnceLock::new();
    TABLE.get_or_init(|| {
        include_str!("data/pg_settings.tsv")
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .filter_map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                Some(Setting {
                    name: f.first()?.to_string(),
                    vartype: f.get(1)?.to_string(),
                    unit: f.get(2)?.to_string(),
                    min: f.get(3)?.parse().ok(),
                    max: f.get(4)?.parse().ok(),
                    enumvals: f
                        .get(5)?
                        .split(',')
                        .filter(|v| !v.is_empty())
                        .map(str::to_string)
                        .collect(),
                    since: f.get(6)?.parse().ok()?,
                    until: f.get(7).and_then(|u| u.parse().ok()),
                })
            })
            .collect()
    })
}

/// What is wrong with a parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    UnknownName { suggestion: Option<String> },
    InvalidValue { why: String, hint: String },
}

/// Checks one `name = value` for PostgreSQL `version`. Names with a dot belong to
/// extensions (`pg_stat_statements.max`) and are accepted as they are.
pub fn check(version: u32, name: &str, value: &str) -> Result<(), Problem> {
    if name.contains('.') {
        return Ok(());
    }
    let known = |s: &&Setting| s.since <= version && s.until.is_none_or(|u| version <= u);
    let lowered = name.to_ascii_lowercase();
    let Some(setting) = table().iter().filter(known).find(|s| s.name == lowered) else {
        let names: Vec<String> = table()
            .iter()
            .filter(known)
            .map(|s| s.name.clone())
            .collect();
        return Err(Problem::UnknownName {
            suggestion: crate::diag::closest(name, &names),
        });
    };
    let value = value.trim();
    let invalid = |why: String, hint: String| Err(Problem::InvalidValue { why, hint });
    match setting.vartype.as_str() {
        "bool" => {
            const WORDS: &[&str] = &["on", "off", "true", "false", "yes", "no", "1", "0"];
            if WORDS.contains(&value.to_ascii_lowercase().as_str()) {
                Ok(())
            } else {
                invalid("not a boolean".into(), "use on or off".into())
            }
        }
        "enum" => {
            if setting.enumvals.is_empty()
                || setting
                    .enumvals
                    .iter()
                    .any(|v| v.eq_ignore_ascii_case(value))
            {
                Ok(())
            } else {
                invalid(
                    "not one of the allowed values".into(),
                    format!("allowed: {}", setting.enumvals.join(", ")),
                )
            }
        }
        "integer" | "real" => numeric(setting, value),
        _ => Ok(()),
    }
}

const MEMORY_UNITS: &[(&str, f64)] = &[
    ("B", 1.0),
    ("kB", 1024.0),
    ("MB", 1048576.0),
    ("GB", 1073741824.0),
    ("TB", 1099511627776.0),
];
const TIME_UNITS: &[(&str, f64)] = &[
    ("us", 0.001),
    ("ms", 1.0),
    ("s", 1000.0),
    ("min", 60000.0),
    ("h", 3600000.0),
    ("d", 86400000.0),
];

/// The size of a base unit in bytes or milliseconds, and which family it belongs to.
fn base_unit(unit: &str) -> Option<(f64, &'static [(&'static str, f64)])> {
    let (multiplier, unit) = match unit.strip_prefix("8") {
        Some(rest) => (8.0, rest),
        None => (1.0, unit),
    };
    for family in [MEMORY_UNITS, TIME_UNITS] {
        if let Some((_, size)) = family.iter().find(|(name, _)| *name == unit) {
            return Some((multiplier * size, family));
        }
    }
    None
}

/// The units a value of a parameter with base unit `unit` may carry; none for a unitless one.
pub fn unit_names(unit: &str) -> Vec<&'static str> {
    base_unit(unit).map_or_else(Vec::new, |(_, family)| {
        family.iter().map(|(name, _)| *name).collect()
    })
}

fn numeric(setting: &Setting, value: &str) -> Result<(), Problem> {
    let split = value
        .find(|ch: char| !(ch.is_ascii_digit() || ".+-eE".contains(ch)))
        .unwrap_or(value.len());
    let (number, unit) = (value[..split].trim(), value[split..].trim());
    let invalid = |why: String, hint: String| Err(Problem::InvalidValue { why, hint });
    let parsed: Option<f64> = if setting.vartype == "integer" {
        number.parse::<i64>().ok().map(|n| n as f64)
    } else {
        number.parse::<f64>().ok().filter(|n| n.is_finite())
    };
    let Some(mut amount) = parsed else {
        return invalid(
            format!(
                "not {}",
                if setting.vartype == "integer" {
                    "an integer"
                } else {
                    "a number"
                }
            ),
            example(setting),
        );
    };
    if !unit.is_empty() {
        let Some((base, family)) = base_unit(&setting.unit) else {
            return invalid(
                format!("`{unit}`: this parameter takes no unit"),
                "write the bare number".into(),
            );
        };
        let Some((_, size)) = family.iter().find(|(name, _)| *name == unit) else {
            let names: Vec<String> = family.iter().map(|(n, _)| n.to_string()).collect();
            return invalid(
                format!("invalid unit `{unit}`"),
                format!(
                    "valid units for this parameter are {} (case matters)",
                    names.join(", ")
                ),
            );
        };
        amount = amount * size / base;
    }
    let (low, high) = (setting.min, setting.max);
    if low.is_some_and(|low| amount < low) || high.is_some_and(|high| amount > high) {
        let (why, hint) = out_of_range(setting);
        return invalid(why, hint);
    }
    Ok(())
}

/// What is said of a value outside a parameter's bounds, and the hint.
pub fn out_of_range(setting: &Setting) -> (String, String) {
    let bound = |b: Option<f64>| b.map_or_else(|| "…".into(), |b| format!("{b}"));
    let unit = if setting.unit.is_empty() {
        String::new()
    } else {
        format!(" (in units of {})", setting.unit)
    };
    (
        format!(
            "outside the range {}–{}{unit}",
            bound(setting.min),
            bound(setting.max)
        ),
        example(setting),
    )
}

/// The size of one base unit of a parameter's value, in bytes or milliseconds (`8192` for
/// `shared_buffers`); 1 for a unitless one.
pub fn base_size(setting: &Setting) -> f64 {
    base_unit(&setting.unit).map_or(1.0, |(size, _)| size)
}

/// Every unit a value may carry, with its size in bytes or milliseconds.
pub fn unit_sizes() -> impl Iterator<Item = (&'static str, f64)> {
    MEMORY_UNITS.iter().chain(TIME_UNITS).copied()
}

/// A memory parameter's value in bytes: `16MB`, or a bare number in the parameter's own
/// unit (`8kB` blocks for `shared_buffers`); `None` for a value PostgreSQL would refuse, or
/// a parameter that is not a memory size.
pub fn bytes(name: &str, value: &str) -> Option<f64> {
    let setting = table().iter().find(|s| s.name == name)?;
    let (base, family) = base_unit(&setting.unit)?;
    if family != MEMORY_UNITS {
        return None;
    }
    let value = value.trim();
    let split = value
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '-'))
        .unwrap_or(value.len());
    let number: f64 = value[..split].trim().parse().ok()?;
    let unit = value[split..].trim();
    if unit.is_empty() {
        return Some(number * base);
    }
    let (_, size) = MEMORY_UNITS.iter().find(|(n, _)| *n == unit)?;
    Some(number * size)
}

fn example(setting: &Setting) -> String {
    match base_unit(&setting.unit) {
        Some((_, family)) if family == MEMORY_UNITS => "e.g. `16MB` or `1GB`".into(),
        Some(_) => "e.g. `500ms`, `30s` or `5min`".into(),
        None => "a bare number".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_in_bytes() {
        assert_eq!(bytes("shared_buffers", "1GB"), Some(1073741824.0));
        // A bare number is in the parameter's own unit: 8 kB blocks, kB.
        assert_eq!(bytes("shared_buffers", "16384"), Some(16384.0 * 8192.0));
        assert_eq!(bytes("work_mem", "4096"), Some(4096.0 * 1024.0));
        assert_eq!(bytes("work_mem", "16MB"), Some(16.0 * 1048576.0));
        assert_eq!(bytes("work_mem", "16mb"), None);
        assert_eq!(bytes("max_connections", "100"), None);
    }

    #[test]
    fn each_major_has_its_own_rows() {
        assert!(check(17, "ssl_groups", "X25519").is_err(), "new in 18");
        assert_eq!(check(18, "ssl_groups", "X25519"), Ok(()));
        assert!(
            check(18, "ssl_ecdh_curve", "prime256v1").is_err(),
            "renamed in 18"
        );
        assert!(
            check(16, "maintenance_work_mem", "64kB").is_err(),
            "1 MB minimum"
        );
        assert_eq!(check(17, "maintenance_work_mem", "64kB"), Ok(()));
        assert_eq!(check(18, "io_method", "worker"), Ok(()));
        assert!(
            check(18, "io_method", "io_uring").is_err(),
            "needs liburing"
        );
    }

    #[test]
    fn units_and_ranges() {
        assert_eq!(check(16, "shared_buffers", "1GB"), Ok(()));
        assert_eq!(check(16, "shared_buffers", "131072"), Ok(()));
        assert!(
            check(16, "shared_buffers", "1gb").is_err(),
            "units are case-sensitive"
        );
        assert!(
            check(16, "shared_buffers", "1ms").is_err(),
            "a time unit on a memory parameter"
        );
        assert!(
            check(16, "shared_buffers", "64kB").is_err(),
            "below the minimum of 16 pages"
        );
        assert_eq!(check(16, "checkpoint_timeout", "5min"), Ok(()));
        assert!(
            check(16, "checkpoint_timeout", "10").is_err(),
            "outside 30 s – 1 day"
        );
        assert_eq!(check(16, "random_page_cost", "1.1"), Ok(()));
        assert!(
            check(16, "max_connections", "100MB").is_err(),
            "no unit allowed"
        );
        assert_eq!(check(16, "ssl", "on"), Ok(()));
        assert_eq!(
            check(16, "wal_level", "LOGICAL"),
            Ok(()),
            "enum values ignore case"
        );
    }

    #[test]
    fn versions() {
        assert_eq!(check(15, "vacuum_defer_cleanup_age", "0"), Ok(()));
        assert!(
            check(16, "vacuum_defer_cleanup_age", "0").is_err(),
            "removed in 16"
        );
        assert!(
            check(16, "transaction_timeout", "1min").is_err(),
            "added in 17"
        );
        assert_eq!(check(17, "transaction_timeout", "1min"), Ok(()));
        assert_eq!(
            check(16, "pg_stat_statements.max", "anything"),
            Ok(()),
            "extension parameters pass"
        );
        assert_eq!(
            check(16, "shared_buffer", "1GB"),
            Err(Problem::UnknownName {
                suggestion: Some("shared_buffers".into())
            })
        );
    }
}
