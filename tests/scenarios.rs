//! Every bug-hunting scenario in `scenarios/` runs through the real binary, and every
//! `fred-expect` in its session script must hold.

use std::path::PathBuf;
use std::process::{Command, Stdio};

const FRED_PDB: &str = env!("CARGO_BIN_EXE_fred-pdb");

fn scenarios() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("scenarios folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("session.fred").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// A scenario's session ran to its end with every command and expectation passing.
fn assert_found(dir: &std::path::Path, out: &std::process::Output) {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("*** "),
        "scenario {} failed ({}):\n{text}\n{}",
        dir.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_python_scenario_finds_its_bug() {
    let mut ran = 0;
    for dir in scenarios() {
        if !dir.join("prog.py").is_file() {
            continue;
        }
        let out = Command::new(FRED_PDB)
            .current_dir(&dir)
            .args(["--keep-going", "-x", "session.fred", "prog.py"])
            .stdin(Stdio::null())
            .output()
            .expect("run fred-pdb");
        assert_found(&dir, &out);
        ran += 1;
    }
    assert!(ran >= 6, "only {ran} Python scenarios found");
}

const FRED_GDB: &str = env!("CARGO_BIN_EXE_fred-gdb");

#[test]
fn every_c_scenario_finds_its_bug() {
    let mut ran = 0;
    for dir in scenarios() {
        if !dir.join("prog.c").is_file() {
            continue;
        }
        let build = std::env::temp_dir().join(format!(
            "fred-scenario-{}-{}",
            dir.file_name().unwrap().to_string_lossy(),
            std::process::id()
        ));
        std::fs::create_dir_all(&build).expect("build dir");
        let prog = build.join("prog");
        let cc = Command::new("gcc")
            .args(["-g", "-O0", "-o"])
            .arg(&prog)
            .arg(dir.join("prog.c"))
            .status()
            .expect("run gcc");
        assert!(cc.success(), "gcc failed on {}", dir.display());
        let out = Command::new(FRED_GDB)
            .current_dir(&dir)
            .args(["--keep-going", "-x", "session.fred"])
            .arg(&prog)
            .stdin(Stdio::null())
            .output()
            .expect("run fred-gdb");
        let _ = std::fs::remove_dir_all(&build);
        assert_found(&dir, &out);
        ran += 1;
    }
    assert!(ran >= 6, "only {ran} C scenarios found");
}
