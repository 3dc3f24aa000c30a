//! Environments served by a Python subprocess (AntMaze through gymnasium-robotics, OGBench
//! through `ogbench`): the process, its little-endian binary protocol over stdin and stdout,
//! and its errors.
//!
//! ```text
//! header (once):  MAGIC[4], u32 obs_dim, u32 act_dim, u32 max_steps,
//!                 f64[act_dim] action low, f64[act_dim] action high
//! b"R" + u64[n] seeds                      -> f64[n * obs_dim] observations
//! b"S" + u32 k + u32[k] envs + f64[k * act_dim] actions
//!                                          -> k × (f64[obs_dim] obs, f64 reward,
//!                                                  u8 terminated, u8 truncated, u8 success)
//! b"Q"                                     -> exit
//! ```

use std::io::{BufReader, BufWriter, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use anyhow::{bail, ensure, Context as _, Result};

use super::spec::EnvSpec;
use super::{StepOutcome, VecEnv};

/// The Python interpreter: `$QIPO_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("QIPO_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Starts `python -c script args...` in the temporary directory (MuJoCo's Python bindings
/// write MUJOCO_LOG.TXT into the working directory), its stderr drained on a thread so that a
/// chatty process never blocks on a full pipe.
pub fn spawn_python(script: &str, args: &[&str], what: &str) -> Result<(Child, JoinHandle<String>)> {
    let python = python();
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {python} for {what} (set QIPO_PYTHON to another interpreter)"))?;
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err_pipe.read_to_string(&mut text);
        text
    });
    Ok((child, stderr))
}

/// The last lines of a stopped process's stderr, joined into one line.
pub fn stderr_tail(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    kept[kept.len().saturating_sub(lines)..].join(" | ")
}

/// `n` episodes served by one Python process.
pub struct ServedVec {
    spec: EnvSpec,
    /// Names the server in errors: "the {kind} server ({detail})", e.g. AntMaze and umaze.
    kind: &'static str,
    detail: String,
    /// Added to the error when the server died of a missing module.
    install_hint: &'static str,
    n: usize,
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
    stderr: Option<JoinHandle<String>>,
    obs_dim: usize,
    act_dim: usize,
    max_steps: usize,
    bounds: (Vec<f64>, Vec<f64>),
}

impl ServedVec {
    /// Starts the server and reads its header, which must begin with `magic`.
    pub fn spawn(
        spec: EnvSpec,
        n: usize,
        script: &str,
        args: &[&str],
        magic: &[u8; 4],
        (kind, detail): (&'static str, String),
        install_hint: &'static str,
    ) -> Result<Self> {
        ensure!(n > 0, "{spec} needs at least one episode");
        let (mut child, stderr) = spawn_python(script, args, &spec.to_string())?;
        let input = BufWriter::new(child.stdin.take().expect("piped stdin"));
        let output = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut env = Self {
            spec,
            kind,
            detail,
            install_hint,
            n,
            child,
            input,
            output,
            stderr: Some(stderr),
            obs_dim: 0,
            act_dim: 0,
            max_steps: 0,
            bounds: (Vec::new(), Vec::new()),
        };
        env.read_header(magic)?;
        Ok(env)
    }

    fn read_header(&mut self, magic: &[u8; 4]) -> Result<()> {
        let mut greeting = [0u8; 4];
        self.read_bytes(&mut greeting)?;
        ensure!(&greeting == magic, "the {} server answered {greeting:?}, not its greeting", self.kind);
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
        let tail = match stderr_tail(&text, 3) {
            t if t.is_empty() => String::new(),
            t => format!(": {t}"),
        };
        let hint = if text.contains("No module named") { self.install_hint } else { "" };
        anyhow::anyhow!("the {} server ({}) stopped, {status}{tail}{hint}", self.kind, self.detail)
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

impl VecEnv for ServedVec {
    fn spec(&self) -> EnvSpec {
        self.spec
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
            bail!("no {} environment {bad} (there are {})", self.kind, self.n);
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

impl Drop for ServedVec {
    fn drop(&mut self) {
        let _ = self.input.write_all(b"Q").and_then(|_| self.input.flush());
        let _ = self.child.wait();
    }
}
