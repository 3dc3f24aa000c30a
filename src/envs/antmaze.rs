//! D4RL's AntMaze evaluation, run in a Python subprocess (`antmaze_server.py`, embedded in
//! the binary) that builds the maze with gymnasium-robotics around D4RL's ant
//! (`data/mujoco/d4rl_ant.xml`) and speaks the protocol of [`super::served`].
//! Score: 100 × the fraction of episodes that reach the goal.

use anyhow::Result;

use super::served::ServedVec;
use super::spec::{EnvSpec, Maze};

const SERVER: &str = include_str!("antmaze_server.py");
/// The ant D4RL's AntMaze data was recorded with.
const ANT_XML: &str = include_str!("../../data/mujoco/d4rl_ant.xml");
const MAGIC: &[u8; 4] = b"QAM1";

/// `n` AntMaze episodes served by one Python process.
pub fn spawn(maze: Maze, n: usize) -> Result<ServedVec> {
    ServedVec::spawn(
        EnvSpec::AntMaze { maze },
        n,
        SERVER,
        &[maze.name(), &n.to_string(), ANT_XML],
        MAGIC,
        ("AntMaze", maze.name().to_string()),
        " (run `bash .ci/setup.sh`: AntMaze needs gymnasium-robotics)",
    )
}
