//! Installing an agent's source files where its interpreter can load them.

use std::path::PathBuf;

use crate::{DebuggerError, Result};

/// Writes `files` (name, text) into `<cache>/fred/<name>-<hash>/<package>/`, once per
/// version of their text, and returns `<cache>/fred/<name>-<hash>` (the directory to put on
/// the interpreter's search path). Files are written under a temporary name and renamed,
/// so two sessions starting at once never see half a file.
pub fn install_agent(name: &str, package: &str, files: &[(&str, &str)]) -> Result<PathBuf> {
    let mut hash: u64 = 0xcbf29ce484222325;
    for (file, text) in files {
        for b in file.bytes().chain(text.bytes()) {
            hash = (hash ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("fred").join(format!("{name}-{hash:016x}"));
    let pkg = dir.join(package);
    let current = files
        .iter()
        .all(|(file, text)| std::fs::read_to_string(pkg.join(file)).ok().as_deref() == Some(*text));
    if current {
        return Ok(dir);
    }
    let io = |e: std::io::Error| {
        DebuggerError::Failed(format!(
            "cannot install the {name} in {} (set XDG_CACHE_HOME to a writable directory): {e}",
            pkg.display()
        ))
    };
    std::fs::create_dir_all(&pkg).map_err(io)?;
    for (file, text) in files {
        let tmp = pkg.join(format!("{file}.{}", std::process::id()));
        let written =
            std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, pkg.join(file)));
        if let Err(e) = written {
            // A disk that filled up mid-write leaves no half file behind.
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
    }
    Ok(dir)
}
