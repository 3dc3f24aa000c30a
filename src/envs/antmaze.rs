//! D4RL's AntMaze evaluation, run in a Python subprocess (`antmaze_server.py`, embedded in
//! the binary) that builds the maze with gymnasium-robotics around D4RL's ant
//! (`data/mujoco/d4rl_ant.xml`) and speaks a small binary protocol over its stdin and stdout.
//! Score: 100 × the fraction of episodes that reach the goal.

use std::io::{BufReader, BufWriter, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use anyhow::{bail, ensure, Context as _, Result};

use super::spec::{EnvSpec, Maze};
use super::{StepOutcome, VecEnv};

const SERVER: &str = include_str!("antmaze_server.py");
/// The ant D4RL's AntMaze data was recorded with.
const ANT_XML: &str = include_str!("../../data/mujoco/d4rl_ant.xml");
const MAGIC: &[u8; 4] = b"QAM1";

/// The Python interpreter: `$QIPO_PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("QIPO_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// `n` AntMaze episodes served by one Python process.
pub struct AntMazeVec {
    maze: Maze,
    n: usize,
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
    /// Collects the server's stderr, to explain a failure once the server has exited.
    stderr: Option<JoinHandle<String>>,
    obs_dim: usize,
    act_dim: usize,
    max_steps: usize,
    bounds: (Vec<f64>, Vec<f64>),
}

impl AntMazeVec {
    pub fn spawn(maze: Maze, n: usize) -> Result<Self> {
        ensure!(n > 0, "AntMaze needs at least one episode");
        let python = python();
        let mut child = Command::new(&python)
            .args(["-c", SERVER, maze.name(), &n.to_string(), ANT_XML])
            // MuJoCo's Python bindings write MUJOCO_LOG.TXT into the working directory.
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {python} for AntMaze (set QIPO_PYTHON to another interpreter)"))?;
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        // Drained on a thread so a chatty server never blocks on a full pipe.
        let stderr = Some(std::thread::spawn(move || {
            let mut text = String::new();
            let _ = err_pipe.read_to_string(&mut text);
            text
        }));
        let input = BufWriter::new(child.stdin.take().expect("piped stdin"));
        let output = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut env = Self {
            maze,
            n,
            child,
            input,
            output,
            stderr,
            obs_dim: 0,
            act_dim: 0,
            max_steps: 0,
            bounds: (Vec::new(), Vec::new()),
        };
        env.read_header()?;
        Ok(env)
    }

    fn read_header(&mut self) -> Result<()> {
        let mut magic = [0u8; 4];
        self.read_bytes(&mut magic)?;
        ensure!(&magic == MAGIC, "the AntMaze server answered {magic:?}, not its greeting");
        self.obs_dim = self.read_u32()? as usize;
        self.act_dim = self.read_u32()? as usize;
        self.max_steps = self.read_u32()? as usize;
        self.bounds = (self.read_f64s(self.act_dim)?, self.read_f64s(self.act_dim)?);
        Ok(())
    }

    /// The server's error, once it has exited: the last lines of its stderr.
    fn failure(&mut self) -> anyhow::Error {
        let status = self.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
        // The server has exited, so its stderr is closed and the reader has all of it.
        let text = self.stderr.take().and_then(|reader| reader.join().ok()).unwrap_or_default();
        let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = match tail[tail.len().saturating_sub(3)..].join(" | ") {
            t if t.is_empty() => String::new(),
            t => format!(": {t}"),
        };
        let hint = if text.contains("No module named") {
            " (run `bash .ci/setup.sh`: AntMaze needs gymnasium-robotics)"
        } else {
            ""
        };
        anyhow::anyhow!("the AntMaze server ({}) stopped, {status}{tail}{hint}", self.maze.name())
    }

    fn read_bytes(&mut self, buf: &mut [u8]) -> Result<()> {
        if self.output.read_exact(buf).is_err() {
            return Err(self.failure());
        }
        Ok(())
    }

    fn read_u32(&mut self) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn read_f64s(&mut self, n: usize) -> Result<Vec<f64>> {
        let mut bytes = vec![0u8; 8 * n];
        self.read_bytes(&mut bytes)?;
        Ok(bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes"))).collect())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        if self.input.write_all(bytes).and_then(|_| self.input.flush()).is_err() {
            return Err(self.failure());
        }
        Ok(())
    }
}

impl VecEnv for AntMazeVec {
    fn spec(&self) -> EnvSpec {
        EnvSpec::AntMaze { maze: self.maze }
    }

    fn len(&self) -> usize {
        self.n
    }

    fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    fn act_dim(&self) -> usize {
        self.act_dim
    }

    fn action_bounds(&self) -> (Vec<f64>, Vec<f64>) {
        self.bounds.clone()
    }

    fn max_steps(&self) -> usize {
        self.max_steps
    }

    fn reset(&mut self, seeds: &[u64]) -> Result<Vec<f64>> {
        ensure!(seeds.len() == self.n, "{} seeds for {} environments", seeds.len(), self.n);
        let mut request = vec![b'R'];
        request.extend(seeds.iter().flat_map(|s| s.to_le_bytes()));
        self.send(&request)?;
        self.read_f64s(self.n * self.obs_dim)
    }

    fn step(&mut self, which: &[usize], actions: &[f64]) -> Result<Vec<StepOutcome>> {
        ensure!(
            actions.len() == which.len() * self.act_dim,
            "{} action values for {} envs",
            actions.len(),
            which.len()
        );
        if let Some(&bad) = which.iter().find(|&&i| i >= self.n) {
            bail!("no AntMaze environment {bad} (there are {})", self.n);
        }
        let mut request = vec![b'S'];
        request.extend((which.len() as u32).to_le_bytes());
        request.extend(which.iter().flat_map(|&i| (i as u32).to_le_bytes()));
        request.extend(actions.iter().flat_map(|a| a.to_le_bytes()));
        self.send(&request)?;
        let mut outcomes = Vec::with_capacity(which.len());
        for _ in which {
            let observation = self.read_f64s(self.obs_dim)?;
            let reward = self.read_f64s(1)?[0];
            let mut flags = [0u8; 3];
            self.read_bytes(&mut flags)?;
            let [terminated, truncated, success] = flags.map(|f| f != 0);
            outcomes.push(StepOutcome { observation, reward, terminated, truncated, success });
        }
        Ok(outcomes)
    }
}

impl Drop for AntMazeVec {
    fn drop(&mut self) {
        let _ = self.input.write_all(b"Q").and_then(|_| self.input.flush());
        let _ = self.child.wait();
    }
}
