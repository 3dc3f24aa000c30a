//! OGBench's single-task environments, run by the `ogbench` package itself in a Python
//! subprocess (`ogbench_server.py`, embedded in the binary) that speaks the protocol of
//! [`super::served`]: observations, rewards, ends and success exactly as OGBench steps them.

use anyhow::Result;

use super::ogbench_task::OgTask;
use super::served::ServedVec;
use super::spec::EnvSpec;

const SERVER: &str = include_str!("ogbench_server.py");
const MAGIC: &[u8; 4] = b"QOG1";

/// `n` episodes of `task` served by one Python process.
pub fn spawn(task: OgTask, n: usize) -> Result<ServedVec> {
    let name = task.to_string();
    ServedVec::spawn(
        EnvSpec::OgBench { task },
        n,
        SERVER,
        &[&name, &n.to_string()],
        MAGIC,
        ("OGBench", name.clone()),
        " (run `bash .ci/setup.sh`: OGBench needs the ogbench package)",
    )
}
