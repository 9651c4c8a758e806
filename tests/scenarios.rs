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
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && !text.contains("*** "),
            "scenario {} failed ({}):\n{text}\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 6, "only {ran} Python scenarios found");
}
