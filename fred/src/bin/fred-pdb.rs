//! `fred-pdb script.py [args]`: the real pdb with time travel.

fn main() {
    std::process::exit(fred::cli::main_pdb());
}
