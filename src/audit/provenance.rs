//! What a report is evidence of: which commit of the repository, judged by which compiler,
//! when, as of which day, and the digests that tie it to the files it judged.

/// The facts a report carries so that an auditor can tie it to a commit and a period.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The repository's commit (`git rev-parse HEAD`) when the output is in git, with
    /// whether the audited files had uncommitted changes.
    pub repository: Option<Commit>,
    /// `CARGO_PKG_VERSION` and the commit the compiler was built from.
    pub compiler: String,
    pub compiler_commit: String,
    /// When the report was made (UTC, `YYYY-MM-DDTHH:MM:SSZ`; `SOURCE_DATE_EPOCH` when set).
    pub generated_at: String,
    /// The day the audit judges as of (`--as-of`, else the day of `generated_at`): the day
    /// exceptions are in force or expired on.
    pub as_of: String,
    /// The output folder as given, and whether every profile of the fleet was audited.
    pub out: String,
    pub whole_fleet: bool,
    /// The exceptions file and the digest of its bytes.
    pub exceptions: Option<(String, String)>,
    /// The digest of each lock (`<customer>/gitopsc.lock`, `_argocd/gitopsc.lock`): the lock
    /// names every file's digest, so this one digest fixes the whole folder.
    pub locks: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Commit {
    pub id: String,
    pub dirty: bool,
}

impl Provenance {
    /// One line: the commit, the compiler, the time and the day judged.
    pub fn summary(&self) -> String {
        format!(
            "commit {}; gitopsc {} ({}); generated {}; as of {}; scope: {}",
            self.commit(),
            self.compiler,
            self.compiler_commit,
            self.generated_at,
            self.as_of,
            self.scope()
        )
    }

    pub fn commit(&self) -> String {
        match &self.repository {
            None => "none (not in a git repository)".to_string(),
            Some(Commit { id, dirty: false }) => id.clone(),
            Some(Commit { id, dirty: true }) => {
                format!("{id} with uncommitted changes to the audited files")
            }
        }
    }

    pub fn scope(&self) -> String {
        format!(
            "`{}`, {}",
            self.out,
            if self.whole_fleet {
                "the whole fleet"
            } else {
                "part of the fleet"
            }
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "repository": self.repository.as_ref().map(|c| serde_json::json!({"commit": c.id, "dirty": c.dirty})),
            "compiler": {"version": self.compiler, "commit": self.compiler_commit},
            "generated_at": self.generated_at,
            "as_of": self.as_of,
            "out": self.out,
            "whole_fleet": self.whole_fleet,
            "exceptions": self.exceptions.as_ref().map(|(file, digest)| serde_json::json!({"file": file, "digest": digest})),
            "locks": self.locks.iter().map(|(file, digest)| serde_json::json!({"file": file, "digest": digest})).collect::<Vec<_>>(),
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` of seconds since the epoch.
pub fn utc(seconds: i64) -> String {
    let (year, month, day) = crate::syntax::civil_from_days(seconds.div_euclid(86_400));
    let time = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        time / 3600,
        time % 3600 / 60,
        time % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_names_the_second() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(1_796_294_245), "2026-12-03T10:37:25Z");
        assert_eq!(
            crate::syntax::timestamp_seconds(&super::utc(1_796_294_245)),
            Some(1_796_294_245)
        );
    }
}
