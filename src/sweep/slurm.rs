//! `qipo sweep --slurm FILE.sbatch`: the sweep as a Slurm job array, one element per dataset,
//! each running the same `qipo sweep` restricted to its dataset (`--part`), and a report job
//! that runs `qipo sweep report` once every element has ended.
//!
//! The file is both: submitted with `sbatch`, it is the array; run with `bash`, it submits
//! the array and then the report job, depending on it.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::run::write_atomic;

/// What the script needs beyond the sweep's own arguments.
pub struct SlurmJob<'a> {
    /// The qipo program the elements run.
    pub program: &'a Path,
    /// The directory the elements run in (relative paths of the arguments start there).
    pub workdir: &'a Path,
    /// The sweep's arguments, without `--slurm` and its options.
    pub sweep_args: &'a [String],
    pub out: &'a Path,
    pub datasets: usize,
    /// GPUs per element (0: no GPU request, for CPU drivers).
    pub gpus: u32,
    /// Time limit per element, as Slurm writes it (`HH:MM:SS`, `D-HH:MM:SS`).
    pub time: &'a str,
}

/// Where the elements' output goes, inside the sweep directory.
pub fn log_dir(out: &Path) -> PathBuf {
    out.join("slurm")
}

/// Fails with one line when `sbatch` cannot be found: the script could not be submitted here.
pub fn check_sbatch() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    match std::env::split_paths(&path).map(|dir| dir.join("sbatch")).find(|p| p.is_file()) {
        Some(sbatch) => Ok(sbatch),
        None => bail!("--slurm: sbatch is not on PATH, so this machine cannot submit a Slurm job; run the sweep without --slurm, or write the script where Slurm is installed"),
    }
}

/// Writes the script to `file` and the folder of the elements' output.
pub fn write_script(file: &Path, job: &SlurmJob) -> Result<()> {
    let logs = log_dir(job.out);
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    write_atomic(file, script(file, job).as_bytes())?;
    let mut permissions = std::fs::metadata(file)?.permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(file, permissions).with_context(|| format!("cannot make {} executable", file.display()))
}

/// The script's text.
pub fn script(file: &Path, job: &SlurmJob) -> String {
    let logs = log_dir(job.out);
    let quoted = |p: &Path| quote(p.as_os_str());
    let args: Vec<String> = job.sweep_args.iter().map(|a| quote(OsStr::new(a))).collect();
    let gpu = match job.gpus {
        0 => String::new(),
        n => format!("#SBATCH --gpus={n}\n"),
    };
    format!(
        r#"#!/bin/bash
# qipo sweep as a Slurm job array: element i trains dataset i's grid of seeds x beta.
# `bash {file}` submits the array and, after it, the job that writes the results;
# `sbatch {file}` submits the array alone.
#SBATCH --job-name=qipo-sweep
#SBATCH --array=0-{last}
{gpu}#SBATCH --time={time}
#SBATCH --output={logs}/sweep-%A_%a.out
#SBATCH --error={logs}/sweep-%A_%a.out
set -euo pipefail
cd {workdir}
if [ -z "${{SLURM_ARRAY_TASK_ID:-}}" ]; then
    array=$(sbatch --parsable "$0")
    array=${{array%%;*}}
    sbatch --parsable --job-name=qipo-sweep-report --dependency=afterany:"$array" \
        --time=00:30:00 --output={logs}/report-%j.out --error={logs}/report-%j.out \
        --wrap={report}
    echo "submitted job array $array and its report"
    exit 0
fi
exec {program} sweep {args} --part "$SLURM_ARRAY_TASK_ID"
"#,
        file = file.file_name().map_or("FILE.sbatch".into(), |n| n.to_string_lossy()),
        last = job.datasets.saturating_sub(1),
        time = job.time,
        logs = quoted(&logs),
        workdir = quoted(job.workdir),
        program = quoted(job.program),
        args = args.join(" "),
        report = quote(OsStr::new(&format!("{} sweep report {}", quoted(job.program), quoted(job.out)))),
    )
}

/// `text` as one bash word.
fn quote(text: &OsStr) -> String {
    let text = text.to_string_lossy();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        return text.into_owned();
    }
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_for_bash() {
        assert_eq!(quote(OsStr::new("policy.beta=0,3")), "policy.beta=0,3");
        assert_eq!(quote(OsStr::new("policy_net.hidden=[12, 7]")), "'policy_net.hidden=[12, 7]'");
        assert_eq!(quote(OsStr::new("it's")), r"'it'\''s'");
    }
}
