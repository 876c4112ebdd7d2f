//! The fuzz target's entry point on random and mutated input, in the normal (stable) test
//! suite: a fixed-seed generator so failures reproduce. Errors are fine; panics are not.

/// xorshift64*: small, deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEED_KCONFIG: &str = "mainmenu \"T $(X)\"\nX := a$(Y)\nconfig A\n\tbool \"a\" if B && !C\n\tdefault y if N > 3\n\tselect S if B\n\timply I\n\thelp\n\t  text\nconfig B\n\tdef_bool y\nconfig N\n\tint \"n\"\n\trange 1 10\n\tdefault 4\nconfig H\n\thex\n\tdefault 0x10\nconfig STR\n\tstring \"s\"\n\tdefault \"v\"\nchoice\n\tprompt \"c\"\n\tdefault C\nconfig C\n\tbool \"c\"\nconfig D\n\tbool \"d\"\nendchoice\nmenu \"M\"\n\tvisible if A\n\tdepends on B\nif A\nconfig S\n\tbool\nconfig I\n\tbool \"i\"\nendif\nendmenu\ncomment \"note\"\n";
const SEED_CONFIG: &str = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_N=99\nCONFIG_H=zz\nCONFIG_STR=\"x\\\"y\nCONFIG_D=y\nCONFIG_C=y\nCONFIG_UNKNOWN=1\n";
const TOKENS: &[&str] = &[
    "config ",
    "menuconfig ",
    "choice\n",
    "endchoice\n",
    "menu \"m\"\n",
    "endmenu\n",
    "if ",
    "endif\n",
    "source \"x\"\n",
    "bool ",
    "int ",
    "hex ",
    "string ",
    "tristate ",
    "default ",
    "def_bool ",
    "depends on ",
    "select ",
    "imply ",
    "range ",
    "prompt ",
    "help\n",
    "---help---\n",
    "visible if ",
    "option defconfig_list\n",
    "optional\n",
    "$(",
    ")",
    "$(shell,x)",
    "$(info,i)",
    "$(1)",
    "\"",
    "'",
    "\\\n",
    "&&",
    "||",
    "!",
    "(",
    "<",
    ">=",
    "=",
    ":=",
    "+=",
    "\n",
    "\t",
    " ",
    "A",
    "B",
    "N",
    "y",
    "n",
    "m",
    "0x",
    "-1",
    "#",
];

fn mutate(rng: &mut Rng, seed: &str) -> Vec<u8> {
    let mut v = seed.as_bytes().to_vec();
    for _ in 0..1 + rng.below(2) {
        match rng.below(4) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                let n = rng.below(16).min(v.len() - i);
                v.drain(i..i + n);
            }
            1 => {
                let i = rng.below(v.len() + 1);
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(i..i, t.bytes());
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            _ => {
                let i = rng.below(v.len() + 1);
                let j = rng.below(v.len() + 1);
                let (a, b) = (i.min(j), i.max(j));
                let chunk = v[a..b].to_vec();
                v.extend_from_slice(&chunk);
            }
        }
    }
    v
}

#[test]
fn random_and_mutated_inputs_never_panic() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    assert!(xen_config::fuzz_kconfig_and_config(
        SEED_KCONFIG.as_bytes(),
        SEED_CONFIG.as_bytes()
    ));
    let mut parsed = 0;
    for i in 0..3000 {
        let (k, c) = if i % 5 == 0 {
            let n = rng.below(200);
            let k: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            let c: Vec<u8> = (0..rng.below(100)).map(|_| rng.next() as u8).collect();
            (k, c)
        } else {
            (
                mutate(&mut rng, SEED_KCONFIG),
                mutate(&mut rng, SEED_CONFIG),
            )
        };
        if xen_config::fuzz_kconfig_and_config(&k, &c) {
            parsed += 1;
        }
    }
    // The mutations must reach the evaluator often, or the test only exercises the lexer.
    assert!(parsed > 200, "only {parsed} of 3000 inputs parsed");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "menu \"m\"\n".repeat(100_000);
    assert!(!xen_config::fuzz_kconfig_and_config(deep.as_bytes(), b""));
    let expr = format!("config A\n\tbool \"a\" if {}B\n", "(".repeat(100_000));
    assert!(!xen_config::fuzz_kconfig_and_config(expr.as_bytes(), b""));
    let nots = format!("config A\n\tdef_bool {}B\n", "!".repeat(100_000));
    assert!(!xen_config::fuzz_kconfig_and_config(nots.as_bytes(), b""));
}
