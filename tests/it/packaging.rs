//! The image and the scheduler examples: the `Dockerfile` builds exactly as CI builds (no container
//! runtime runs here, so its steps are checked against CI's), runs as a non-root user with CA
//! certificates, and every example in `scripts/scale/` passes arguments the real CLI accepts.

use std::fs;

use serde_json::Value;

use crate::common::*;

fn read(path: &str) -> String {
    fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The image's instructions, continuation lines joined: (instruction, arguments).
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let joined = dockerfile.replace("\\\n", " ");
    joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (op, rest) = l.split_once(' ').unwrap_or((l, ""));
            (op.to_ascii_uppercase(), rest.trim().to_string())
        })
        .collect()
}

#[test]
fn the_image_builds_as_ci_builds_and_runs_as_a_non_root_user() {
    let steps = instructions(&read("Dockerfile"));
    let froms: Vec<&String> = steps
        .iter()
        .filter(|(op, _)| op == "FROM")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );
    // The build stage's toolchain is at least the crate's rust-version.
    let toolchain = froms[0]
        .strip_prefix("rust:")
        .and_then(|t| t.split(['-', ' ']).next())
        .expect("the build stage is an official rust image");
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    let manifest = read("Cargo.toml");
    let min = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    assert!(version(toolchain) >= version(min), "{toolchain} < {min}");

    // The build step is CI's build command, and CI's test script runs it.
    let runtime_at = steps.iter().rposition(|(op, _)| op == "FROM").unwrap();
    let build: Vec<&String> = steps[..runtime_at]
        .iter()
        .filter(|(op, a)| op == "RUN" && a.contains("cargo"))
        .map(|(_, a)| a)
        .collect();
    assert_eq!(build, ["cargo build --release --locked"], "{steps:?}");
    assert!(
        read("scripts/test")
            .lines()
            .any(|l| l.trim() == "cargo build --release --locked"),
        "scripts/test (run by .ci/run) builds what the image builds"
    );

    // Runtime: CA certificates for HTTPS to S3, the release binary as the entrypoint, not root.
    let runtime = &steps[runtime_at..];
    let has = |op: &str, f: &dyn Fn(&str) -> bool| runtime.iter().any(|(o, a)| o == op && f(a));
    assert!(
        has("RUN", &|a| a.contains("ca-certificates")),
        "{runtime:?}"
    );
    assert!(
        has("COPY", &|a| a.contains("target/release/flowlake")),
        "{runtime:?}"
    );
    assert!(
        has("ENTRYPOINT", &|a| a.contains("flowlake")),
        "{runtime:?}"
    );
    let user = runtime
        .iter()
        .rev()
        .find(|(op, _)| op == "USER")
        .map(|(_, a)| a.clone())
        .expect("a USER");
    let uid = user.split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u != 0),
        "a numeric non-root user (Kubernetes runAsNonRoot checks the number): {user}"
    );
    // What the image copies from the build context leaves the local build and lakes out.
    let ignored = read(".dockerignore");
    assert!(ignored.lines().any(|l| l.trim() == "target/"), "{ignored}");
}

/// Runs the binary as the image's entrypoint would with `args`, asking for help at the end: clap
/// checks every argument before it (names, values, dates) and exits 0 only when all parse.
fn accepted(example: &str, args: &[String]) {
    let mut with_help: Vec<&str> = args.iter().map(String::as_str).collect();
    with_help.push("--help");
    let run = flowlake(&with_help);
    assert_eq!(run.code, 0, "{example}: {args:?}: {}", run.stderr);
}

#[test]
fn the_aws_batch_job_definitions_pass_arguments_the_cli_accepts() {
    for file in [
        "scripts/scale/aws-batch-job-definition.json",
        "scripts/scale/aws-batch-job-definition-planned.json",
    ] {
        let def: Value = serde_json::from_str(&read(file)).unwrap();
        let params = def["parameters"].as_object().unwrap();
        let args: Vec<String> = def["containerProperties"]["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let a = a.as_str().unwrap();
                match a.strip_prefix("Ref::") {
                    Some(name) => params[name].as_str().unwrap().to_string(),
                    None => a.to_string(),
                }
            })
            .collect();
        assert!(
            !args[0].starts_with('-') && args[0] != "flowlake",
            "{file}: {args:?}"
        );
        accepted(file, &args);
    }
}

#[test]
fn the_kubernetes_jobs_pass_arguments_the_cli_accepts() {
    for file in [
        "scripts/scale/k8s-indexed-job.yaml",
        "scripts/scale/k8s-indexed-job-planned.yaml",
    ] {
        let text = read(file);
        let start = text.find("args: [").expect("args") + "args: [".len();
        let end = start + text[start..].find(']').unwrap();
        let args: Vec<String> = text[start..end]
            .split(',')
            .map(|a| a.trim().trim_matches('"').to_string())
            .filter(|a| !a.is_empty())
            .collect();
        let completions: u32 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("completions: "))
            .unwrap()
            .parse()
            .unwrap();
        if let Some(i) = args.iter().position(|a| a == "--shards") {
            assert_eq!(args[i + 1], completions.to_string(), "{file}");
        }
        accepted(file, &args);
    }
}
