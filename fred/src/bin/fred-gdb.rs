//! `fred-gdb ./prog [args]`: gdb with time travel (not implemented yet).

fn main() {
    eprintln!("{}", fred_gdb::NOT_YET);
    std::process::exit(2);
}
