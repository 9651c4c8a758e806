//! Scripts whose forward commands fred-pdb types ahead (pdb runs them back to back): each
//! answer still has its own output, in order with the program's, and its own place on the
//! timeline; where the program ends on the way, the rest are answered as at the end.

mod support;

use support::{Fred, TestDir};

/// Prints before, in and after each call of `f`, where the breakpoint is.
const PRINTS: &str = r#"
import sys
def f(i):
    sys.stdout.write("in-f-%d\n" % i)
    return i * 2

total = 0
for i in range(5):
    print("before-%d" % i)
    total += f(i)
    print("after-%d" % i)
print("total-%d" % total)
"#;

#[test]
fn each_command_typed_ahead_has_its_own_output_and_place() {
    let dir = TestDir::new("ahead-order");
    let prog = dir.program(PRINTS);
    let mut cmds = vec!["break f"];
    cmds.extend(["continue"; 8]);
    cmds.extend(["reverse-continue", "p i", "next"]);
    let run = Fred::new(&dir).run(&cmds);
    // The first continue: the program's output up to the first stop, and the stop.
    let first = &run[1];
    first.assert_at(&prog, 3, "f");
    assert!(first.output.starts_with("before-0\n"), "{first:#?}");
    assert!(first.output.contains("> "), "the stop is shown: {first:#?}");
    for i in 1..5 {
        let r = &run[1 + i];
        r.assert_at(&prog, 3, "f");
        let want = format!("in-f-{}\nafter-{}\nbefore-{i}\n", i - 1, i - 1);
        assert!(
            r.output.starts_with(&want),
            "continue {i} must print {want:?} before its stop: {r:#?}"
        );
        assert!(r.time > run[i].time, "time goes on: {r:#?}");
        for other in (0..5).filter(|&k| k != i) {
            assert!(!r.output.contains(&format!("before-{other}\n")), "{r:#?}");
        }
    }
    // The fifth continue runs the program to its end; the rest are answered there.
    let end = &run[6];
    assert_eq!(end.state, "finished", "{end:#?}");
    assert!(
        end.output.starts_with("in-f-4\nafter-4\ntotal-20\n"),
        "{end:#?}"
    );
    run[7].assert_error("ended");
    run[8].assert_error("ended");
    // The timeline holds every stop: back to the last one, and on from there.
    run[9].assert_at(&prog, 3, "f");
    assert_eq!(run[9].time, run[5].time);
    run[10].assert_value("4");
    run[11].assert_at(&prog, 4, "f");
    assert_eq!(
        run.all_output().matches("total-20\n").count(),
        1,
        "output printed again on the way back: {}",
        run.all_output()
    );
}

#[test]
fn breakpoint_commands_that_continue_keep_the_programs_output_in_order() {
    let dir = TestDir::new("ahead-commands");
    dir.program(PRINTS);
    let run = Fred::new(&dir).run(&[
        "break f",
        "commands 1",
        "p 'cmd-%d' % i",
        "continue",
        "continue",
        "continue",
    ]);
    let r = &run[4];
    assert_eq!(r.state, "finished", "{r:#?}");
    // Each stop's `p` comes after what the program printed before that stop, and before
    // what it printed after it.
    let mut at = 0;
    for i in 0..5 {
        for text in [
            format!("before-{i}\n"),
            format!("'cmd-{i}'\n"),
            format!("in-f-{i}\n"),
            format!("after-{i}\n"),
        ] {
            let found = r.output[at..].find(&text).unwrap_or_else(|| {
                panic!(
                    "{text:?} missing or out of order after byte {at}:\n{}",
                    r.output
                )
            });
            at += found + text.len();
        }
    }
    run[5].assert_error("ended");
}
