//! One test per Kconfig semantic, on small trees written here. Each result is checked
//! against what we expect AND against Xen's own `conf` (built from the real Debian tree)
//! run on the same tree and input.
mod common;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use xen_config::probe::{HostShell, Replay};
use xen_config::{parse, Input, ParseInput};

struct Case<'a> {
    files: &'a [(&'a str, &'a str)],
    env: &'a [(&'a str, &'a str)],
    input: Option<&'a str>,
}

fn conf_path() -> std::path::PathBuf {
    let t = common::tree();
    t.xen.join("tools/kconfig/conf")
}

/// Runs Xen's conf on the tree in `dir`: returns (.config, defconfig).
fn run_conf(dir: &Path, c: &Case) -> (String, String) {
    let conf = conf_path();
    let mut out = Vec::new();
    for mode in ["--olddefconfig", "--savedefconfig=defconfig"] {
        let _ = std::fs::remove_file(dir.join(".config"));
        if let Some(i) = c.input {
            std::fs::write(dir.join(".config"), i).expect("write .config");
        }
        let o = Command::new(&conf)
            .arg("-s")
            .arg(mode)
            .arg("Kconfig")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(c.env.iter().copied())
            .output()
            .expect("run conf");
        assert!(
            o.status.success(),
            "conf {mode} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let f = if mode == "--olddefconfig" {
            ".config"
        } else {
            "defconfig"
        };
        out.push(std::fs::read_to_string(dir.join(f)).expect("conf output"));
    }
    (out.remove(0), out.remove(0))
}

fn write_tree(c: &Case) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in c.files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write Kconfig");
    }
    dir
}

fn ours(dir: &Path, c: &Case) -> (String, String) {
    let env: BTreeMap<String, String> = c
        .env
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let mut shell = HostShell {
        cwd: dir.to_path_buf(),
        env: env.clone().into_iter().collect(),
    };
    let k = parse(
        ParseInput {
            root: dir,
            top: "Kconfig",
            env,
            files: BTreeMap::new(),
        },
        &mut shell,
    )
    .expect("parse");
    let input = match c.input {
        Some(i) => Input::Config(i.as_bytes()),
        None => Input::Missing,
    };
    let (old, _) = k.clone().olddefconfig(input, dir);
    let (save, _) = k.clone().savedefconfig(input, dir);
    (old, save)
}

/// Checks ours == conf, and that the olddefconfig body (after the 4-line heading) is `body`.
fn check(c: Case, body: &str, save: &str) {
    let dir = write_tree(&c);
    let (old, sv) = ours(dir.path(), &c);
    let (cold, csv) = run_conf(dir.path(), &c);
    assert_eq!(old, cold, "olddefconfig differs from conf");
    assert_eq!(sv, csv, "savedefconfig differs from conf");
    let got_body: String = old.split_inclusive('\n').skip(4).collect();
    assert_eq!(got_body, body, "olddefconfig body");
    assert_eq!(sv, save, "savedefconfig");
}

fn kc(text: &str) -> [(&str, &str); 1] {
    [("Kconfig", text)]
}

#[test]
fn bool_defaults_prompts_and_user_values() {
    check(
        Case {
            files: &kc("mainmenu \"Test\"\nconfig A\n\tbool \"a\"\n\tdefault y\nconfig B\n\tbool \"b\"\nconfig C\n\tbool\n\tdefault A\n"),
            env: &[],
            input: Some("# CONFIG_A is not set\nCONFIG_B=y\n"),
        },
        "# CONFIG_A is not set\nCONFIG_B=y\n",
        "# CONFIG_A is not set\nCONFIG_B=y\n",
    );
}

#[test]
fn def_bool_default_if_prompt_if_depends_on() {
    check(
        Case {
            files: &kc("config X\n\tdef_bool y\nconfig Y\n\tbool \"y\" if X\n\tdefault n if !X\n\tdefault y\nconfig Z\n\tbool \"z\"\n\tdepends on !X\n\tdefault y\n"),
            env: &[],
            input: Some(""),
        },
        "CONFIG_X=y\nCONFIG_Y=y\n",
        "",
    );
}

#[test]
fn select_if_and_imply() {
    check(
        Case {
            files: &kc("config A\n\tbool \"a\"\n\tdefault y\n\tselect S if B\n\tselect T\n\timply I\nconfig B\n\tbool \"b\"\nconfig S\n\tbool\nconfig T\n\tbool\nconfig I\n\tbool \"i\"\n"),
            env: &[],
            input: Some("CONFIG_B=n\n"),
        },
        "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_T=y\nCONFIG_I=y\n",
        "",
    );
}

#[test]
fn int_hex_string_range_and_out_of_range_fallback() {
    check(
        Case {
            files: &kc("config N\n\tint \"n\"\n\trange 1 16\n\tdefault 4\nconfig M\n\tint \"m\"\n\trange 8 16\n\tdefault 2\nconfig H\n\thex \"h\"\n\trange 0x10 0x20\n\tdefault 0x18\nconfig S\n\tstring \"s\"\n\tdefault \"a\\\"b\"\n"),
            env: &[],
            input: Some("CONFIG_N=99\nCONFIG_H=0x1f\n"),
        },
        "CONFIG_N=4\nCONFIG_M=8\nCONFIG_H=0x1f\nCONFIG_S=\"a\\\"b\"\n",
        "CONFIG_M=8\nCONFIG_H=0x1f\n",
    );
}

#[test]
fn comparisons_less_greater() {
    check(
        Case {
            files: &kc("config N\n\tint \"n\"\n\tdefault 10\nconfig BIG\n\tdef_bool N > 8\nconfig SMALL\n\tdef_bool N < 8\nconfig GE\n\tdef_bool N >= 10 && N <= 10\nconfig HEXCMP\n\tdef_bool 0x10 > 9\nconfig STR\n\tdef_bool \"abc\" != \"abd\"\n"),
            env: &[],
            input: None,
        },
        "CONFIG_N=10\nCONFIG_BIG=y\nCONFIG_GE=y\nCONFIG_HEXCMP=y\nCONFIG_STR=y\n",
        "",
    );
}

#[test]
fn choice_defaults_user_choice_and_savedefconfig() {
    let files = kc("choice\n\tprompt \"pick\"\n\tdefault B if X\n\tdefault A\nconfig A\n\tbool \"a\"\nconfig B\n\tbool \"b\"\nendchoice\nconfig X\n\tbool \"x\"\n");
    check(
        Case {
            files: &files,
            env: &[],
            input: Some("CONFIG_X=y\n"),
        },
        "# CONFIG_A is not set\nCONFIG_B=y\nCONFIG_X=y\n",
        "CONFIG_X=y\n",
    );
    check(
        Case {
            files: &files,
            env: &[],
            input: Some("CONFIG_B=y\n"),
        },
        "# CONFIG_A is not set\nCONFIG_B=y\n# CONFIG_X is not set\n",
        "CONFIG_B=y\n",
    );
}

#[test]
fn menus_visible_if_and_comments() {
    check(
        Case {
            files: &kc("config E\n\tbool \"e\"\nmenu \"Shown\"\nconfig A\n\tbool \"a\"\n\tdefault y\nendmenu\nmenu \"Hidden\"\n\tdepends on E\nconfig B\n\tbool \"b\"\nendmenu\nmenu \"Invisible prompts\"\n\tvisible if E\nconfig C\n\tbool \"c\"\n\tdefault y\nendmenu\ncomment \"Note\"\n\tdepends on !E\nif E\nconfig D\n\tbool \"d\"\nendif\n"),
            env: &[],
            input: Some(""),
        },
        "# CONFIG_E is not set\n\n#\n# Shown\n#\nCONFIG_A=y\n# end of Shown\n\nCONFIG_C=y\n\n#\n# Note\n#\n",
        "",
    );
}

#[test]
fn preprocessor_variables_functions_env_and_source() {
    check(
        Case {
            files: &[
                (
                    "Kconfig",
                    "mainmenu \"T/$(SRCARCH) $(VER)\"\nVER := 1.$(MINOR)\nMINOR = 2\ngreet = hello-$(1)\nlist := a\nlist += b\nsource \"sub/$(SRCARCH)/Kconfig\"\nconfig GREETING\n\tstring\n\tdefault \"$(greet,world) $(list)\"\nconfig SH\n\tint\n\tdefault $(shell,echo 42)\nconfig OK\n\tdef_bool $(shell,true && echo y)\n$(info,parsed)\n",
                ),
                ("sub/x86/Kconfig", "config FROM_SUB\n\tdef_bool y\n"),
            ],
            env: &[("SRCARCH", "x86")],
            input: None,
        },
        "CONFIG_FROM_SUB=y\nCONFIG_GREETING=\"hello-world a b\"\nCONFIG_SH=42\nCONFIG_OK=y\n",
        "",
    );
}

#[test]
fn help_texts_line_continuations_and_defconfig_list() {
    check(
        Case {
            files: &[
                (
                    "Kconfig",
                    "config DEFLIST\n\tstring\n\toption defconfig_list\n\tdefault \"configs/base\"\nconfig A\n\tbool \"a\"\n\t---help---\n\t  Help with\n\n\t  a blank line.\nconfig B\n\tbool \"b\" if \\\n\t\tA\n\thelp\n\t  more\nconfig C\n\tbool \"c\"\n",
                ),
                ("configs/base", "CONFIG_A=y\nCONFIG_B=y\n"),
            ],
            env: &[],
            input: None,
        },
        "CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n",
        "CONFIG_A=y\nCONFIG_B=y\n",
    );
}

#[test]
fn unmet_dependencies_are_not_written() {
    check(
        Case {
            files: &kc("config A\n\tbool \"a\"\nconfig B\n\tbool \"b\"\n\tdepends on A\n\tdefault y\nconfig N\n\tint \"n\"\n\tdepends on A\n\tdefault 3\n"),
            env: &[],
            input: Some("CONFIG_B=y\nCONFIG_N=5\n"),
        },
        "# CONFIG_A is not set\n",
        "",
    );
}

#[test]
fn shell_answers_come_from_the_probe() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("Kconfig"),
        "config V\n\tint\n\tdefault $(shell,probe-the-host)\n",
    )
    .expect("write");
    let mut replay = Replay {
        answers: [("probe-the-host".to_string(), "120200\n".to_string())].into(),
    };
    let k = parse(
        ParseInput {
            root: dir.path(),
            top: "Kconfig",
            env: BTreeMap::new(),
            files: BTreeMap::new(),
        },
        &mut replay,
    )
    .expect("parse");
    let (out, _) = k.clone().olddefconfig(Input::Config(b""), dir.path());
    assert!(out.ends_with("CONFIG_V=120200\n"), "{out}");
    let mut empty = Replay::default();
    let err = parse(
        ParseInput {
            root: dir.path(),
            top: "Kconfig",
            env: BTreeMap::new(),
            files: BTreeMap::new(),
        },
        &mut empty,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("Kconfig:3") && err.to_string().contains("probe-the-host"),
        "{err}"
    );
}

#[test]
fn errors_name_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("config A\n\ttristate \"a\"\n", "Kconfig:2", "tristate"),
        (
            "config A\n\tbool \"a\"\nmenu \"m\"\n",
            "Kconfig:",
            "missing end",
        ),
        ("source \"nope\"\n", "Kconfig:1", "can't open file"),
        (
            "config A\n\tbool \"a\" if (B\n",
            "Kconfig:2",
            "expected ')'",
        ),
        ("$(error-if,y,stop here)\n", "Kconfig:1", "stop here"),
        (
            "X = $(X)\nconfig A\n\tdefault $(X)\n",
            "Kconfig:3",
            "Recursive variable",
        ),
        ("endif\n", "Kconfig:1", "outside"),
    ];
    for (text, at, what) in cases {
        std::fs::write(dir.path().join("Kconfig"), text).expect("write");
        let mut shell = HostShell {
            cwd: dir.path().to_path_buf(),
            env: vec![],
        };
        let err = parse(
            ParseInput {
                root: dir.path(),
                top: "Kconfig",
                env: BTreeMap::new(),
                files: BTreeMap::new(),
            },
            &mut shell,
        )
        .expect_err(text)
        .to_string();
        assert!(
            err.contains(at) && err.contains(what),
            "{text:?} gave {err}"
        );
    }
}

/// conf refuses recursive dependencies; so do we. Trees without cycles still parse.
#[test]
fn recursive_dependencies_are_refused_like_conf() {
    let conf = conf_path();
    let cases = [
        ("config A\n\tbool \"a\"\n\tdepends on B\nconfig B\n\tbool \"b\"\n\tdepends on A\n", true),
        ("config A\n\tbool \"a\"\n\tdepends on B\n\tselect B\nconfig B\n\tbool \"b\"\n", true),
        ("config A\n\tbool \"a\" if A\n", true),
        ("config A\n\tbool \"a\"\n\tselect B\nconfig B\n\tbool \"b\"\n\tdepends on C\nconfig C\n\tbool \"c\"\n", false),
    ];
    for (text, cyclic) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("Kconfig"), text).expect("write");
        let o = Command::new(&conf)
            .args(["-s", "--olddefconfig", "Kconfig"])
            .current_dir(dir.path())
            .output()
            .expect("conf");
        assert_eq!(
            !o.status.success(),
            cyclic,
            "conf on {text:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let mut shell = HostShell {
            cwd: dir.path().to_path_buf(),
            env: vec![],
        };
        let r = parse(
            ParseInput {
                root: dir.path(),
                top: "Kconfig",
                env: BTreeMap::new(),
                files: BTreeMap::new(),
            },
            &mut shell,
        );
        assert_eq!(r.is_err(), cyclic, "{text:?}");
        if let Err(e) = r {
            assert!(
                e.to_string().contains("recursive dependency")
                    && e.to_string().contains("Kconfig:"),
                "{e}"
            );
        }
    }
}
