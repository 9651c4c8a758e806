//! A library preloaded into gdb (`agent/fred_xstate.c`, built once with the machine's C
//! compiler) that keeps gdb's writes of the program's extended registers until the program
//! runs: about 500 of them at each call of a function from gdb, so at every `checkpoint`
//! and `restart`, each a read and a write of the whole register area. Kept, a checkpoint
//! takes about two thirds of the time.
//!
//! On CPUs with AMX it is what makes those writes work at all with gdb 13. Without it, on
//! such a CPU, every call of a function from gdb, every `checkpoint` and every `restart`
//! fails ("Couldn't write extended state status: Bad address"): no time travel at all, and
//! no `print f(x)` either. Newer gdbs write the whole area themselves; the library then
//! keeps their writes alike. Elsewhere, where it cannot be built, gdb goes without it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fred_personality::Output;

/// The largest XSAVE area gdb 13 knows (x87, SSE, AVX, AVX-512 and PKRU state), in bytes.
const GDB_KNOWN_XSAVE_SIZE: u32 = 2696;

/// The library's source in the installed agent, and the library built from it.
const SOURCE: &str = "fred_xstate.c";
const LIBRARY: &str = "fred_xstate.so";

/// Whether this CPU's register state is larger than gdb 13 can write.
pub fn needed() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if !std::arch::is_x86_feature_detected!("xsave") {
            return false;
        }
        // CPUID leaf 0xD exists on every CPU with XSAVE; its EBX is the size of the XSAVE
        // area of the state the kernel has enabled.
        let leaf = std::arch::x86_64::__cpuid_count(0xd, 0);
        leaf.ebx > GDB_KNOWN_XSAVE_SIZE
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The library for gdb to preload, built in the agent's directory `dir` if it is not there
/// yet; the reason when it cannot be built.
pub fn library(dir: &Path) -> Result<PathBuf, String> {
    let lib = dir.join(LIBRARY);
    if lib.exists() {
        return Ok(lib);
    }
    let tmp = dir.join(format!("{LIBRARY}.{}", std::process::id()));
    let mut errors = Vec::new();
    let compilers = std::env::var("CC")
        .ok()
        .into_iter()
        .chain(["cc".into(), "gcc".into()]);
    for cc in compilers {
        let built = Command::new(&cc)
            .args(["-O2", "-shared", "-fPIC", "-o"])
            .arg(&tmp)
            .arg(dir.join(SOURCE))
            .arg("-ldl")
            .stdin(Stdio::null())
            .output();
        match built {
            Ok(o) if o.status.success() => {
                return match std::fs::rename(&tmp, &lib) {
                    Ok(()) => Ok(lib),
                    Err(e) => Err(format!("cannot install {}: {e}", lib.display())),
                };
            }
            Ok(o) => errors.push(format!(
                "{cc}: {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("failed")
            )),
            Err(e) => errors.push(format!("{cc}: {e}")),
        }
    }
    let _ = std::fs::remove_file(&tmp);
    Err(format!(
        "no C compiler could build it ({})",
        errors.join("; ")
    ))
}

/// The environment gdb needs here: the library preloaded into gdb, and (in `args`) the
/// program's own environment as it was, so that the program does not load it too. Where
/// the library cannot be built, nothing; and on a CPU whose registers gdb 13 cannot write
/// without it, a warning.
pub fn gdb_env(
    dir: &Path,
    args: &mut Vec<OsString>,
    out: &mut dyn Output,
) -> Vec<(String, String)> {
    if cfg!(not(target_arch = "x86_64")) {
        return Vec::new();
    }
    let lib = match library(dir) {
        Ok(lib) => lib,
        Err(_) if !needed() => return Vec::new(),
        Err(why) => {
            out.debugger(&format!(
                "fred: this gdb cannot write registers on this CPU (AMX), so calls and \
                 checkpoints will fail; the library that fixes it: {why}\n"
            ));
            return Vec::new();
        }
    };
    let mut preload = lib.to_string_lossy().into_owned();
    let program_env = match std::env::var("LD_PRELOAD") {
        Ok(theirs) => {
            if !theirs.is_empty() {
                preload = format!("{preload}:{theirs}");
            }
            format!("set environment LD_PRELOAD={theirs}")
        }
        Err(_) => "unset environment LD_PRELOAD".to_string(),
    };
    args.splice(0..0, ["-iex".into(), program_env.into()]);
    vec![("LD_PRELOAD".into(), preload)]
}
