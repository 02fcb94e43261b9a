//! Input fingerprints: a resumed run must read the very bytes the run began with, since
//! rows are matched by input and line.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::LedgerError;

/// One input as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputPrint {
    /// As named on the command line (`<stdin>` for `-`).
    pub name: String,
    /// `sha256:<hex>` of the raw bytes (compressed bytes for `.gz`); None for stdin, which
    /// cannot be read twice.
    pub fingerprint: Option<String>,
}

/// The SHA-256 of a file's bytes, read in chunks so memory stays flat.
pub fn fingerprint_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let hex: String = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok(format!("sha256:{hex}"))
}

/// Whether a run begun with `recorded` may go on with `given`. The same number of inputs
/// is always required (rows are keyed by input position). A changed or uncheckable
/// (stdin) input is refused unless `force`; the warnings say what `force` let through.
pub fn check_inputs(
    recorded: &[InputPrint],
    given: &[InputPrint],
    force: bool,
) -> Result<Vec<String>, LedgerError> {
    if recorded.len() != given.len() {
        return Err(LedgerError::InputsDiffer {
            recorded: names(recorded),
            given: names(given),
        });
    }
    let mut warnings = Vec::new();
    for (was, now) in recorded.iter().zip(given) {
        let problem = match (&was.fingerprint, &now.fingerprint) {
            (Some(a), Some(b)) if a == b => {
                if was.name != now.name {
                    warnings.push(format!(
                        "{} was named {} when the run began; its contents are the same",
                        now.name, was.name
                    ));
                }
                continue;
            }
            (Some(_), Some(_)) => LedgerError::InputChanged {
                name: now.name.clone(),
            },
            _ => LedgerError::InputUnchecked {
                name: now.name.clone(),
            },
        };
        if !force {
            return Err(problem);
        }
        warnings.push(format!("--force: {problem}"));
    }
    Ok(warnings)
}

fn names(inputs: &[InputPrint]) -> Vec<String> {
    inputs.iter().map(|i| i.name.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(name: &str, fingerprint: Option<&str>) -> InputPrint {
        InputPrint {
            name: name.into(),
            fingerprint: fingerprint.map(String::from),
        }
    }

    #[test]
    fn the_same_bytes_resume_even_under_another_name() {
        let recorded = [
            print("a.csv", Some("sha256:1")),
            print("b.csv", Some("sha256:2")),
        ];
        assert_eq!(check_inputs(&recorded, &recorded, false).ok(), Some(vec![]));
        let moved = [
            print("old/a.csv", Some("sha256:1")),
            print("b.csv", Some("sha256:2")),
        ];
        let warnings = check_inputs(&recorded, &moved, false).unwrap_or_default();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("old/a.csv"), "{warnings:?}");
    }

    #[test]
    fn a_changed_input_is_refused_unless_forced() {
        let recorded = [print("a.csv", Some("sha256:1"))];
        let changed = [print("a.csv", Some("sha256:9"))];
        let refused = check_inputs(&recorded, &changed, false).err();
        assert!(
            matches!(&refused, Some(LedgerError::InputChanged { name }) if name == "a.csv"),
            "{refused:?}"
        );
        let message = refused.map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("--force"), "{message}");
        let forced = check_inputs(&recorded, &changed, true).unwrap_or_default();
        assert_eq!(forced.len(), 1);
    }

    #[test]
    fn stdin_cannot_be_checked_so_it_needs_force() {
        let recorded = [print("<stdin>", None)];
        assert!(matches!(
            check_inputs(&recorded, &recorded, false),
            Err(LedgerError::InputUnchecked { .. })
        ));
        assert!(check_inputs(&recorded, &recorded, true).is_ok());
    }

    #[test]
    fn other_inputs_are_refused_even_with_force() {
        let recorded = [print("a.csv", Some("sha256:1"))];
        let more = [
            print("a.csv", Some("sha256:1")),
            print("b.csv", Some("sha256:2")),
        ];
        for force in [false, true] {
            assert!(matches!(
                check_inputs(&recorded, &more, force),
                Err(LedgerError::InputsDiffer { .. })
            ));
        }
    }

    #[test]
    fn a_fingerprint_follows_the_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "userId\nu1\n").expect("write");
        let first = fingerprint_file(&path).expect("fingerprint");
        assert_eq!(fingerprint_file(&path).ok(), Some(first.clone()));
        // The SHA-256 of "userId\nu1\n", as `sha256sum` prints it.
        assert_eq!(
            first,
            "sha256:43a822d59fbdc57072b8a6ce84219b87b00fe33aa00168539d84a4ba2873916a"
        );
        std::fs::write(&path, "userId\nu2\n").expect("write");
        assert_ne!(fingerprint_file(&path).ok(), Some(first));
    }
}
