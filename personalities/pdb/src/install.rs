//! Installing the agent package where the interpreter can import it.

use std::path::PathBuf;

use fred_personality::{DebuggerError, Result};

/// Writes the agent package to a per-version cache directory; returns the directory to
/// put on Python's path.
pub fn install_agent() -> Result<PathBuf> {
    let mut hash: u64 = 0xcbf29ce484222325;
    for (name, text) in crate::AGENT_FILES {
        for b in name.bytes().chain(text.bytes()) {
            hash = (hash ^ b as u64).wrapping_mul(0x100000001b3);
        }
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("fred").join(format!("agent-{hash:016x}"));
    let pkg = dir.join("fred_agent");
    let current = crate::AGENT_FILES
        .iter()
        .all(|(name, text)| std::fs::read_to_string(pkg.join(name)).ok().as_deref() == Some(*text));
    if current {
        return Ok(dir);
    }
    let io =
        |e: std::io::Error| DebuggerError::Failed(format!("cannot install the pdb agent: {e}"));
    std::fs::create_dir_all(&pkg).map_err(io)?;
    for (name, text) in crate::AGENT_FILES {
        let tmp = pkg.join(format!("{name}.{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, pkg.join(name)).map_err(io)?;
    }
    Ok(dir)
}
