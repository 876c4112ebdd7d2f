//! The hardened environment. One test in its own binary: it changes the process environment.

#[test]
fn git_location_and_prompts_are_not_inherited() {
    // SAFETY of the test: the only test of this binary, so no other thread reads the
    // environment while it changes.
    for (k, v) in [
        ("GIT_DIR", "/elsewhere/.git"),
        ("GIT_WORK_TREE", "/elsewhere"),
        ("GIT_ASKPASS", "/usr/bin/ssh-askpass"),
        ("SSH_ASKPASS", "/usr/bin/ssh-askpass"),
        ("LC_ALL", "de_DE.UTF-8"),
        ("QXK_KEPT", "yes"),
    ] {
        std::env::set_var(k, v);
    }
    let out = qxk_process::Cmd::new("sh")
        .args([
            "-c",
            "echo ${GIT_DIR-unset} ${GIT_WORK_TREE-unset} ${GIT_ASKPASS-unset} ${SSH_ASKPASS-unset} $LC_ALL $GIT_TERMINAL_PROMPT $QXK_KEPT",
        ])
        .run()
        .expect("sh");
    assert_eq!(out.stdout_lossy(), "unset unset unset unset C 0 yes\n");
    // A caller may still set one on purpose.
    let out = qxk_process::Cmd::new("sh")
        .args(["-c", "echo $GIT_DIR"])
        .env("GIT_DIR", "/repo.git")
        .run()
        .expect("sh");
    assert_eq!(out.stdout_lossy(), "/repo.git\n");
}
