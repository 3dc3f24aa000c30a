//! `qipo sweep --slurm` against a real Slurm: munge, slurmctld and slurmd (Debian's
//! slurm-wlm) configured and started by the test on this one machine, and stopped at its
//! end. The script is submitted as a user would (`bash FILE.sbatch`), Slurm runs an array
//! element per dataset on lavapipe and then the report job, and the results must hold every
//! dataset. Where slurm-wlm is not installed the test says so and passes:
//! `tests/qipo_sweep.rs` runs the same script's array elements by hand.

mod cli_support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{ok, read_json, scratch};
use serde_json::json;

const DATASET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/hopper-medium-replay-v2.hdf5");

/// How long the whole sweep may take on a CPU driver before the test gives up.
const PATIENCE: Duration = Duration::from_secs(900);

/// The daemons of a one-machine cluster, stopped (by their process ids) when dropped.
struct Cluster {
    conf: PathBuf,
    daemons: Vec<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for daemon in self.daemons.iter_mut().rev() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn output(program: &str, args: &[&str]) -> String {
    String::from_utf8_lossy(&Command::new(program).args(args).output().unwrap().stdout).trim().to_string()
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts munge, slurmctld and slurmd with their state, logs and sockets under `dir`.
fn start_cluster(dir: &Path) -> Cluster {
    let (host, user) = (output("hostname", &["-s"]), output("id", &["-un"]));
    let munge = dir.join("munge");
    for sub in ["state", "spool", "log"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::create_dir_all(&munge).unwrap();
    let key: Vec<u8> = (0..1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let key_file = munge.join("munge.key");
    std::fs::write(&key_file, key).unwrap();
    Command::new("chmod").args(["400", key_file.to_str().unwrap()]).status().unwrap();
    let socket = munge.join("socket");
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let mut daemons = vec![Command::new("munged")
        .args(["--foreground", "--force"])
        .arg(format!("--socket={}", path(&socket)))
        .arg(format!("--key-file={}", path(&key_file)))
        .arg(format!("--log-file={}", path(&dir.join("log/munged.log"))))
        .arg(format!("--pid-file={}", path(&munge.join("munged.pid"))))
        .arg(format!("--seed-file={}", path(&munge.join("seed"))))
        .stderr(Stdio::null())
        .spawn()
        .expect("munged starts")];
    let conf = dir.join("slurm.conf");
    let d = path(dir);
    std::fs::write(
        &conf,
        format!(
            "ClusterName=qipotest\nSlurmctldHost={host}\nSlurmUser={user}\nSlurmdUser={user}\n\
             SlurmctldPort={}\nSlurmdPort={}\nAuthType=auth/munge\nAuthInfo=socket={}\nCredType=cred/munge\n\
             StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
             SlurmctldLogFile={d}/log/slurmctld.log\nSlurmdLogFile={d}/log/slurmd.log\n\
             ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/none\n\
             SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\nReturnToService=2\nMpiDefault=none\n\
             NodeName={host} CPUs=2 State=UNKNOWN\n\
             PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES\n",
            free_port(),
            free_port(),
            path(&socket)
        ),
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    for daemon in ["slurmctld", "slurmd"] {
        daemons.push(Command::new(daemon).args(["-D", "-f", &path(&conf)]).stderr(Stdio::null()).spawn().unwrap());
        std::thread::sleep(Duration::from_secs(2));
    }
    let cluster = Cluster { conf, daemons };
    let started = Instant::now();
    loop {
        let state = cluster.run("sinfo", &["-h", "-o", "%t"]);
        if state.contains("idle") {
            return cluster;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the node never came up: {state}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

impl Cluster {
    /// A Slurm client command's output, against this cluster.
    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program).args(args).env("SLURM_CONF", &self.conf).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

#[test]
fn a_slurm_cluster_runs_the_sweep_script() {
    if !["munged", "slurmctld", "slurmd", "sbatch"].iter().all(|p| installed(p)) {
        eprintln!("skipped: slurm-wlm (munged, slurmctld, slurmd, sbatch) is not installed");
        return;
    }
    let dir = scratch("cluster");
    let cluster = start_cluster(&dir);
    let second = scratch("second").join("hopper-second.hdf5");
    std::fs::create_dir_all(second.parent().unwrap()).unwrap();
    std::fs::copy(DATASET, &second).unwrap();
    let out = scratch("sweep");
    let script = dir.join("sweep.sbatch");
    let tiny = "--preset smoke --set behaviour.steps=40 --set critic.steps=40 --set policy.steps=40 \
                --set policy.renew_every=20 --set run.log_every=20 --set run.checkpoint_every=20 \
                --set run.eval_episodes=1 --set run.eval_every=0 --set policy.beta=0,3 --slurm-gpus 0 --slurm-time 00:20:00";
    let mut args = vec!["sweep", "--dataset", DATASET, second.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend(tiny.split(' ').filter(|a| !a.is_empty()));
    args.extend(["--slurm", script.to_str().unwrap()]);
    let env = |c: &mut Command| -> std::process::Output {
        c.env("SLURM_CONF", &cluster.conf).env("XDG_RUNTIME_DIR", std::env::temp_dir()).output().unwrap()
    };
    ok(env(Command::new(env!("CARGO_BIN_EXE_qipo")).args(&args)));
    let submitted = ok(env(Command::new("bash").arg(&script)));
    assert!(submitted.contains("submitted job array"), "{submitted}");

    let started = Instant::now();
    while !cluster.run("squeue", &["-h"]).is_empty() {
        assert!(started.elapsed() < PATIENCE, "the jobs did not end: {}", cluster.run("squeue", &[]));
        std::thread::sleep(Duration::from_secs(5));
    }
    let logs: Vec<String> = std::fs::read_dir(out.join("slurm"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    let results = out.join("results.json");
    assert!(results.exists(), "no results; the jobs' output:\n{}", logs.join("\n----\n"));
    let results = read_json(&results);
    for (d, name) in ["hopper-medium-replay-v2", "hopper-second"].iter().enumerate() {
        assert_eq!(results["datasets"][d]["name"], json!(name));
        for cell in 0..2 {
            assert_eq!(results["datasets"][d]["cells"][cell]["finished"], json!(1), "{results}");
        }
    }
    assert_eq!(logs.len(), 3, "two array elements and the report wrote their output");
}
