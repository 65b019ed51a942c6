//! Every example of every rule, through the built CLI: `hit` examples must produce the rule,
//! `miss` examples must not.

use sopsguard::rules::Registry;

use crate::util::{expand_placeholders, Dir};

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
            dir.write(&ex.path, expand_placeholders(&ex.content));
            let run = dir.run(&["scan", "--format", "json", "--threads", "1"]);
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
