//! `fred-gdb ./prog [args]`: the real gdb with time travel.

fn main() {
    std::process::exit(fred::cli::main_gdb());
}
