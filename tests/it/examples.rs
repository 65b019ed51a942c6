//! Every example of every rule, through the built CLI: `hit` examples must produce the rule,
//! `miss` examples must not.

use sopsguard::rules::Registry;

use crate::util::{expand_placeholders_with_values, Dir};

#[test]
fn every_rule_example() {
    let registry = Registry::builtin();
    let mut checked = 0;
    let mut failures = Vec::new();
    for rule in registry.rules() {
        for (expect_hit, ex) in
            rule.hit_examples.iter().map(|e| (true, e)).chain(rule.miss_examples.iter().map(|e| (false, e)))
        {
            let dir = Dir::new();
            let (content, values) = expand_placeholders_with_values(&ex.content);
            dir.write(&ex.path, &content);
            let run = dir.run(&["scan", "--format", "json", "--threads", "1"]);
            // No generated secret is ever printed, in any format (a token is long enough that a
            // redacted prefix never repeats it whole).
            if expect_hit {
                for format in ["json", "human", "sarif"] {
                    let out = dir.run(&["scan", "--format", format, "--threads", "1"]);
                    for v in values.iter().filter(|v| v.len() >= 16) {
                        if out.stdout.contains(v.as_str()) || out.stderr.contains(v.as_str()) {
                            failures.push(format!(
                                "{} example ({}): {format} output repeats a secret",
                                rule.id, ex.path
                            ));
                        }
                    }
                }
            }
            let hit = run.hits().iter().any(|(r, _, _)| *r == rule.id);
            if hit != expect_hit {
                failures.push(format!(
                    "{} {} example {:?} ({}): got rules {:?}",
                    rule.id,
                    if expect_hit { "hit" } else { "miss" },
                    ex.content,
                    ex.path,
                    run.hits()
                ));
            }
            assert!(run.code == 0 || run.code == 1, "{}: exit {} {}", rule.id, run.code, run.stderr);
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 30, "only {checked} examples");
}
