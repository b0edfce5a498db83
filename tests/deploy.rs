//! What `deploy/` ships, checked: the Kubernetes manifests are what `byzsgd keygen --kubernetes`
//! renders from `deploy/cluster.toml`, they parse, and each pod's index maps onto its node, its
//! role and its own key only; the Slurm batch script runs every task as the node its rank says
//! (with stand-ins for `srun` and `scontrol` on this machine), and a whole cluster stopped at
//! once (preemption) resumes from its checkpoints when the job is submitted again, worker
//! momentum included, no step applied twice.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use byzsgd_core::protocol::Node;
use byzsgd_net::checkpoint::{Snapshot, peek};
use byzsgd_net::{id, identity};
use serde::Deserialize;
use serde_yaml_ng::Value;

use common::byzsgd;

/// One cluster at a time: each is a dozen processes.
static TURN: Mutex<()> = Mutex::new(());

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("byzsgd-deploy-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every YAML document of a file.
fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|v| !v.is_null())
        .collect()
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, k| &v[*k])
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    s(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("no string at {path:?}"))
}

#[test]
fn kubernetes_manifests_are_current_parse_and_give_each_pod_its_node_and_key_only() {
    let dir = scratch("k8s");
    let cluster = root().join("deploy").join("cluster.toml");
    let rendered = dir.join("k8s");
    let o = byzsgd(&[
        "keygen",
        "--config",
        cluster.to_str().unwrap(),
        "--out",
        dir.join("certs").to_str().unwrap(),
        "--kubernetes",
        rendered.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // What git holds is what keygen renders (the key material aside).
    let shipped = root().join("deploy").join("kubernetes");
    for f in ["service.yaml", "config.yaml", "nodes.yaml"] {
        let (old, new) = (
            std::fs::read_to_string(shipped.join(f)).unwrap(),
            std::fs::read_to_string(rendered.join(f)).unwrap(),
        );
        let first = old.lines().zip(new.lines()).position(|(a, b)| a != b);
        assert!(
            old == new,
            "deploy/kubernetes/{f} is stale (line {}: {:?} where keygen renders {:?}): byzsgd \
             keygen --config deploy/cluster.toml --out /tmp/k --kubernetes deploy/kubernetes, \
             then remove its ca.yaml and secrets/",
            first.map_or(old.lines().count().min(new.lines().count()), |i| i) + 1,
            first.map(|i| old.lines().nth(i).unwrap_or_default()),
            first.map(|i| new.lines().nth(i).unwrap_or_default()),
        );
    }
    let service = &docs(&rendered.join("service.yaml"))[0];
    assert_eq!(str_at(service, &["kind"]), "Service");
    assert_eq!(str_at(service, &["spec", "clusterIP"]), "None");
    assert_eq!(
        s(service, &["spec", "publishNotReadyAddresses"]).as_bool(),
        Some(true)
    );
    let app = str_at(service, &["metadata", "name"]).to_string();
    let port = s(service, &["spec", "ports"])[0]["port"].as_u64().unwrap();

    // The pods' cluster file, as the ConfigMap holds it: its nodes and their addresses.
    let config = &docs(&rendered.join("config.yaml"))[0];
    let pod_file = dir.join("pod-cluster.toml");
    std::fs::write(&pod_file, str_at(config, &["data", "cluster.toml"])).unwrap();
    let o = byzsgd(&["node", "--config", pod_file.to_str().unwrap(), "--list"]);
    assert!(o.status.success(), "{}", text(&o));
    let listed: Vec<(usize, String, String, String)> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].parse().unwrap(), f[1].into(), f[2].into(), f[3].into())
        })
        .collect();
    let n_ps = listed.iter().filter(|l| l.2 == "server").count();
    let n_w = listed.len() - n_ps;
    assert!(n_ps >= 2 && n_w >= 1, "{listed:?}");

    // The Secrets: one per node, each with that node's certificate and key only.
    let mut secrets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(rendered.join("secrets")).unwrap() {
        let path = entry.unwrap().path();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{} is readable by others", path.display());
        }
        let d = &docs(&path)[0];
        assert_eq!(str_at(d, &["kind"]), "Secret");
        let keys: BTreeSet<String> = s(d, &["stringData"])
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                let k = k.as_str().unwrap().to_string();
                let on_disk = std::fs::read_to_string(dir.join("certs").join(&k)).unwrap();
                assert_eq!(v.as_str().unwrap().trim(), on_disk.trim(), "{k}");
                k
            })
            .collect();
        secrets.insert(str_at(d, &["metadata", "name"]).into(), keys);
    }
    assert_eq!(secrets.len(), listed.len());

    // The StatefulSets: one per node; its index (BYZSGD_ID) is the node its labels, DNS name and
    // Secret say, and it mounts no other node's key.
    let sets = docs(&rendered.join("nodes.yaml"));
    assert_eq!(sets.len(), listed.len());
    let mut seen = BTreeSet::new();
    for set in &sets {
        assert_eq!(str_at(set, &["kind"]), "StatefulSet");
        let name = str_at(set, &["metadata", "name"]);
        let spec = s(set, &["spec"]);
        assert_eq!(spec["replicas"].as_u64(), Some(1), "{name}");
        assert_eq!(str_at(spec, &["podManagementPolicy"]), "Parallel");
        assert_eq!(str_at(spec, &["serviceName"]), app);
        let pod = s(spec, &["template", "spec"]);
        assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() >= 60);
        let c = &pod["containers"][0];
        let args: Vec<&str> = c["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(args[0], "node", "{name}: every pod runs the same command");
        assert!(args.contains(&"--resume"), "{name}");
        // A container that exits is restarted: a finished node stays.
        assert!(args.contains(&"--wait-when-done"), "{name}");
        assert_eq!(
            c["securityContext"]["allowPrivilegeEscalation"].as_bool(),
            Some(false)
        );
        let env: BTreeMap<&str, &str> = c["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| (str_at(e, &["name"]), str_at(e, &["value"])))
            .collect();
        let who = identity::resolve(
            Some(env["BYZSGD_ID"]),
            |_: &str| None,
            Some(&format!("{name}-0")),
            n_ps,
            n_w,
        )
        .unwrap();
        let node = id::name(who.node);
        let role = if matches!(who.node, Node::Server(_)) {
            "server"
        } else {
            "worker"
        };
        assert_eq!(name, format!("{app}-{node}"));
        let tl = s(spec, &["template", "metadata", "labels"]);
        assert_eq!(str_at(tl, &["byzsgd/node"]), node);
        assert_eq!(str_at(tl, &["byzsgd/role"]), role);
        let index = identity::index_of(who.node, n_ps);
        let l = &listed[index];
        assert_eq!((l.1.as_str(), l.2.as_str()), (node.as_str(), role));
        assert_eq!(l.3, format!("{name}-0.{app}:{port}"), "its pod's DNS name");
        // Its volumes: the config, the CA, its own Secret; nothing else secret.
        let mut mounted = Vec::new();
        for v in pod["volumes"].as_sequence().unwrap() {
            assert!(
                v.get("secret").is_none(),
                "{name}: a secret volume outside the projection"
            );
            if let Some(sources) = v.get("projected") {
                for src in sources["sources"].as_sequence().unwrap() {
                    if let Some(sec) = src.get("secret") {
                        mounted.push(str_at(sec, &["name"]).to_string());
                    }
                }
            }
        }
        let own = format!("{app}-{node}-key");
        assert_eq!(
            mounted,
            vec![own.clone()],
            "{name} mounts another node's key"
        );
        assert_eq!(
            secrets[&own],
            BTreeSet::from([format!("{node}.pem"), format!("{node}.key")])
        );
        assert!(seen.insert(node));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stand-in for `srun` on one machine: SLURM_NTASKS copies of the command, task i with
/// SLURM_PROCID=i, their pids in $SRUN_PIDS. Like srun, it answers SIGTERM by killing its tasks
/// (SIGKILL: no checkpoint), so a script that stops a run through srun fails the test.
const SRUN: &str = r#"#!/usr/bin/env bash
while [[ $1 == --* ]]; do shift; done
pids=()
for ((i = 0; i < SLURM_NTASKS; i++)); do SLURM_PROCID=$i "$@" & pids+=($!); done
echo "${pids[@]}" >"$SRUN_PIDS"
trap 'kill -KILL "${pids[@]}" 2>/dev/null' TERM INT
status=0
for p in "${pids[@]}"; do
    while true; do
        wait "$p"; rc=$?
        kill -0 "$p" 2>/dev/null || break
    done
    ((rc == 0)) || status=$rc
done
exit $status
"#;

/// A stand-in for `scontrol show hostnames`: this machine, once per task.
const SCONTROL: &str = r#"#!/usr/bin/env bash
for ((i = 0; i < SLURM_NTASKS; i++)); do echo 127.0.0.1; done
"#;

fn shims(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, body) in [("srun", SRUN), ("scontrol", SCONTROL)] {
        let p = bin.join(name);
        std::fs::write(&p, body).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    bin
}

/// The first port of `n` free consecutive loopback ports.
fn free_ports(n: usize) -> u16 {
    'base: for base in (20_000u16..60_000).step_by(97) {
        let start = base.wrapping_add((std::process::id() % 997) as u16 * 7);
        let mut held = Vec::new();
        for p in start..start + n as u16 {
            match std::net::TcpListener::bind(("0.0.0.0", p)) {
                Ok(l) => held.push(l),
                Err(_) => continue 'base,
            }
        }
        return start;
    }
    panic!("no {n} free consecutive ports");
}

fn sbatch(dir: &Path, bin: &Path, port: u16) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("deploy/slurm/byzsgd.sbatch"))
        .arg(dir.join("cluster.toml"))
        .arg(dir.join("run"))
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("BYZSGD", env!("CARGO_BIN_EXE_byzsgd"))
        .env("BYZSGD_PORT", port.to_string())
        .env("SLURM_JOB_NODELIST", "localhost")
        .env("SLURM_NTASKS", "12")
        .env("SLURM_JOB_ID", "1")
        .env("RUST_LOG", "info")
        .env("SRUN_PIDS", dir.join("srun.pids"))
        // The script must unset it: else every task would be the same node.
        .env("BYZSGD_ID", "s0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The steps of `node`'s journal entries of `kind`, in the order written.
fn journal_steps(run: &Path, node: &str, kind: &str) -> Vec<u64> {
    let Ok(t) = std::fs::read_to_string(run.join("nodes").join(node).join("journal.jsonl")) else {
        return Vec::new();
    };
    t.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["kind"] == kind)
        .filter_map(|v| v["step"].as_u64())
        .collect()
}

/// The Slurm batch script, submitted, preempted (SIGTERM to the batch shell, as `--signal`
/// sends it) and submitted again: every task ran as the node of its rank, every node
/// checkpointed when stopped (workers their momentum), and the second job resumed from there:
/// no server applied a step twice, and the run finished with a trained model.
///
/// Seen failing: with workers not checkpointing (as before this test), the worker checkpoint
/// check failed (`w0: ... checkpoint.bin: No such file`); with `--resume` dropped from the
/// script, the second job started afresh and the resume check failed (`s0 did not resume from
/// its checkpoint`); with a restored node's first connections not counted as reconnections
/// (so it sent nothing again), the servers stopped at step 81 waited for gradients the workers,
/// at 82, had sent before the stop (`no progress`). The first version of the script had Slurm signal the batch shell only
/// (`--signal=B:TERM`) and passed that SIGTERM on to srun, which kills its tasks: the stand-in
/// srun here kills its tasks on SIGTERM as srun does, and the tasks are signalled as Slurm
/// signals them under `--signal=TERM`.
#[test]
fn a_slurm_job_runs_each_task_as_its_rank_and_resumes_after_preemption() {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let dir = scratch("slurm");
    let bin = shims(&dir);
    let steps = 240;
    std::fs::write(
        dir.join("cluster.toml"),
        format!(
            "steps = {steps}\neval_every = 60\nmomentum = 0.9\n\n[net]\ncluster = \"slurm\"\nlinger = 3.0\n"
        ),
    )
    .unwrap();
    let run = dir.join("run");
    let port = free_ports(12);
    let mut job = sbatch(&dir, &bin, port).spawn().unwrap();
    let start = Instant::now();
    while journal_steps(&run, "s0", "model")
        .last()
        .copied()
        .unwrap_or(0)
        < 80
    {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the first job did not get going"
        );
        if let Some(status) = job.try_wait().unwrap() {
            let o = job.wait_with_output().unwrap();
            panic!(
                "the first job ended ({status}) before step 80: {}",
                text(&o)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // The time limit near (--signal=TERM@120) or scancel --signal=TERM: Slurm signals every
    // task itself; the batch shell gets one too, as on a preemption.
    // Ranks 2..=4 (s2, s3, s4) first, the rest half a second later: the nodes stop at
    // different steps, as they do when signals arrive over a real cluster.
    let tasks = std::fs::read_to_string(dir.join("srun.pids")).unwrap();
    let tasks: Vec<&str> = tasks.split_whitespace().collect();
    let job_pid = job.id().to_string();
    for pid in &tasks[2..=4] {
        let _ = Command::new("kill").args(["-TERM", pid]).status();
    }
    std::thread::sleep(Duration::from_millis(500));
    for pid in tasks.iter().copied().chain([job_pid.as_str()]) {
        let _ = Command::new("kill").args(["-TERM", pid]).status();
    }
    let first = job.wait_with_output().unwrap();
    let log = text(&first);
    // Every task ran as the node its rank names.
    let o = byzsgd(&[
        "node",
        "--config",
        run.join("cluster.toml").to_str().unwrap(),
        "--list",
    ]);
    let names: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 12);
    for (rank, name) in names.iter().enumerate() {
        assert!(
            log.contains(&format!("{name} ("))
                && log.contains(&format!("from SLURM_PROCID={rank})")),
            "task {rank} did not run as {name}: {log}"
        );
    }
    // Every node checkpointed on its way out; the workers' checkpoints hold their momentum.
    let mut stopped_at = BTreeMap::new();
    for name in &names {
        let (owner, snapshot) = peek(&run.join("nodes").join(name).join("checkpoint.bin"))
            .unwrap_or_else(|e| panic!("{name}: {e}\n{log}"));
        assert_eq!(&owner.node, name);
        match snapshot {
            Snapshot::Server(s) => {
                stopped_at.insert(name.clone(), s.step);
            }
            Snapshot::Worker(w) => {
                let v = w
                    .velocity
                    .unwrap_or_else(|| panic!("{name} kept no momentum"));
                assert!(v.iter().any(|&x| x != 0.0), "{name}'s momentum is zero");
                stopped_at.insert(name.clone(), w.step);
            }
        }
    }
    let before: BTreeMap<&String, Vec<u64>> = names
        .iter()
        .filter(|n| n.starts_with('s'))
        .map(|n| (n, journal_steps(&run, n, "aggregated")))
        .collect();
    assert!(
        stopped_at.values().all(|&s| s > 0 && s < steps),
        "the job was not stopped midway: {stopped_at:?}"
    );

    // Submitted again: it resumes, and finishes (a resumed cluster that deadlocks is stopped
    // after 240 s: nodes wait for peers for ever).
    let mut job = sbatch(&dir, &bin, port).spawn().unwrap();
    let start = Instant::now();
    while job.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(240) {
            let tasks = std::fs::read_to_string(dir.join("srun.pids")).unwrap_or_default();
            for pid in tasks.split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
            let o = job.wait_with_output().unwrap();
            let steps: BTreeMap<&String, Option<u64>> = names
                .iter()
                .filter(|n| n.starts_with('s'))
                .map(|n| (n, journal_steps(&run, n, "model").last().copied()))
                .collect();
            panic!(
                "no progress: the resumed job did not finish in 240 s (servers at {steps:?}): {}",
                text(&o)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let second = job.wait_with_output().unwrap();
    let log2 = text(&second);
    assert!(second.status.success(), "{log2}");
    for name in &names {
        assert!(
            log2.contains(&format!("{name} (")) && log2.contains("resumes from"),
            "{name} did not resume from its checkpoint: {log2}"
        );
        let started = journal_steps(&run, name, "started");
        assert_eq!(started.len(), 2, "{name}: {started:?}");
        assert_eq!(started[1], stopped_at[name], "{name} resumed elsewhere");
    }
    for (name, old) in &before {
        let all = journal_steps(&run, name, "aggregated");
        assert!(
            all.len() > old.len(),
            "{name} trained no more after the resume"
        );
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            all.len(),
            "{name} applied a step twice: {all:?}"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let acc = summary["final_test_accuracy"].as_f64().unwrap();
    println!("resumed run: final accuracy {acc}, stopped at {stopped_at:?}");
    assert!(acc > 0.5, "accuracy {acc} after the resumed run");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bad input to `byzsgd node` and `launch --resume` is refused with a message that says what to
/// do.
#[test]
fn nodes_without_an_identity_or_a_run_to_resume_are_refused() {
    let dir = scratch("refuse");
    let cluster = root().join("deploy").join("cluster.toml");
    let c = cluster.to_str().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_byzsgd"))
        .args(["node", "--config", c, "--dry-run"])
        .env_remove("BYZSGD_ID")
        .env_remove("SLURM_PROCID")
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    // This machine's host name may end in -N (a pod): then the dry run names that node.
    let t = text(&o);
    assert!(
        (!o.status.success() && t.contains("--id")) || t.contains("from host name"),
        "{t}"
    );
    let o = Command::new(env!("CARGO_BIN_EXE_byzsgd"))
        .args(["node", "--config", c, "--dry-run"])
        .env("SLURM_PROCID", "12")
        .env_remove("BYZSGD_ID")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("SLURM_PROCID=12"), "{}", text(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_byzsgd"))
        .args(["node", "--config", c, "--dry-run"])
        .env("JOB_COMPLETION_INDEX", "6")
        .env_remove("BYZSGD_ID")
        .env_remove("SLURM_PROCID")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("w1 (worker, from JOB_COMPLETION_INDEX=6)"),
        "{}",
        text(&o)
    );
    let o = byzsgd(&["server", "--config", c, "--id", "w1", "--dry-run"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("is a worker, not a server"),
        "{}",
        text(&o)
    );
    let o = byzsgd(&["launch", "--resume", "--out", dir.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no cluster to resume"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
