//! Every expression found in the corpus parses, and evaluates against its own package.

#[path = "support/corpus.rs"]
mod corpus_support;
use corpus_support::corpus;
use std::path::PathBuf;

use smtpcm::dtsx;
use smtpcm::expr::{self, PackageScope};
use smtpcm::package::{EventHandler, Executable, Package};

/// (where, expression) for every property, variable and constraint expression.
fn expressions(pkg: &Package) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for cm in pkg.connections.iter() {
        for p in &cm.property_expressions {
            out.push((
                format!("connection {} {}", cm.name, p.property),
                p.expression.clone(),
            ));
        }
    }
    let mut vars: Vec<&smtpcm::package::Variable> = pkg.variables.iter().collect();
    fn walk<'a>(
        list: &'a [Executable],
        handlers: &'a [EventHandler],
        out: &mut Vec<(String, String)>,
        vars: &mut Vec<&'a smtpcm::package::Variable>,
    ) {
        for h in handlers {
            vars.extend(&h.variables);
            for c in &h.precedence_constraints {
                if !c.expression.is_empty() {
                    out.push((format!("constraint {}", c.name), c.expression.clone()));
                }
            }
            walk(&h.executables, &[], out, vars);
        }
        for e in list {
            vars.extend(&e.variables);
            for p in &e.property_expressions {
                out.push((format!("{} {}", e.path, p.property), p.expression.clone()));
            }
            for c in &e.precedence_constraints {
                if !c.expression.is_empty() {
                    out.push((format!("constraint {}", c.name), c.expression.clone()));
                }
            }
            walk(&e.executables, &e.event_handlers, out, vars);
        }
    }
    walk(&pkg.executables, &pkg.event_handlers, &mut out, &mut vars);
    for c in &pkg.precedence_constraints {
        if !c.expression.is_empty() {
            out.push((format!("constraint {}", c.name), c.expression.clone()));
        }
    }
    for v in vars {
        if v.evaluate_as_expression && !v.expression.is_empty() {
            out.push((
                format!("variable {}", v.qualified_name()),
                v.expression.clone(),
            ));
        }
    }
    out
}

#[test]
fn every_corpus_expression_parses_and_evaluates() {
    let Some(dir) = corpus() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "dtsx"))
        .collect();
    files.sort();
    let mut total = 0;
    let mut failures = Vec::new();
    for path in files {
        let mut pkg = dtsx::load_package(&path).unwrap();
        // Project parameters referenced by the corpus come from Project.params files that are
        // not in the corpus; stand in for them so that evaluation can be checked.
        for name in [
            "prj_conn_SMTP",
            "prj_From_ErrorMail",
            "prj_To_ErrorMail",
            "strFileServerName",
        ] {
            pkg.project_parameters
                .push(smtpcm::package::Parameter::new(name, 8, "value"));
        }
        let scope = PackageScope::new(&pkg);
        for (at, text) in expressions(&pkg) {
            total += 1;
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            match expr::parse(&text) {
                Err(e) => failures.push(format!("{name}: {at}: parse {e}: {text}")),
                Ok(parsed) => {
                    if let Err(e) = expr::eval(&parsed, &scope) {
                        failures.push(format!("{name}: {at}: eval {e}: {text}"));
                    }
                }
            }
        }
    }
    assert!(
        total >= 30,
        "expected the corpus's expressions, found {total}"
    );
    assert!(
        failures.is_empty(),
        "{} of {total} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
