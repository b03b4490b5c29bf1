//! `cargo xtask --help` is the way in: it must list the tasks and exit 0.

use std::process::Command;

#[test]
fn help_lists_the_tasks_and_exits_0() {
    for flag in ["--help", "help"] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg(flag)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{flag}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        for task in ["bench", "crash", "torture", "ci"] {
            assert!(
                text.contains(&format!("  {task} ")),
                "{flag}: no {task} in {text}"
            );
        }
    }
}
