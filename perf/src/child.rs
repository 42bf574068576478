//! A program under measurement: started with its output piped, read line by line with arrival
//! times, signalled by its own pid, and never left behind.
//!
//! One reader thread per stream forwards lines over a channel, so the runner can wait for a line
//! with a deadline, and a program that dies or hangs is reported with the tail of what it said.
//! Signals go through `kill(1)` with the child's pid: this crate has no `unsafe`, and `libc::kill`
//! would need it. Dropping a [`Child`] that still runs kills it (SIGKILL, by pid), so an error path
//! never leaves a DPDK process polling a core.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Lines kept for error messages.
const LOG_LINES: usize = 4000;

/// One line of output and when it arrived.
#[derive(Clone, Debug)]
pub struct Line {
    pub at: Instant,
    pub stderr: bool,
    pub text: String,
}

pub struct Child {
    name: String,
    child: std::process::Child,
    lines: Receiver<Line>,
    log: Vec<String>,
    /// Both streams closed: the program is gone or about to be.
    closed: bool,
}

fn forward(stream: impl Read + Send + 'static, stderr: bool, tx: mpsc::Sender<Line>) {
    std::thread::spawn(move || {
        for text in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(Line { at: Instant::now(), stderr, text }).is_err() {
                break;
            }
        }
    });
}

impl Child {
    /// Start `cmd` with stdin closed and stdout/stderr read by this side.
    pub fn spawn(name: &str, mut cmd: Command) -> Result<Child, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
        let (tx, rx) = mpsc::channel();
        forward(child.stdout.take().expect("piped"), false, tx.clone());
        forward(child.stderr.take().expect("piped"), true, tx);
        Ok(Child { name: name.to_string(), child, lines: rx, log: Vec::new(), closed: false })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal (`USR1`, `TERM`, `INT`) to this child's pid.
    pub fn signal(&self, sig: &str) -> Result<(), String> {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .map_err(|e| format!("kill -{sig} {}: {e}", self.pid()))?;
        if !st.success() {
            return Err(format!("kill -{sig} {} ({}) failed: {st}", self.pid(), self.name));
        }
        Ok(())
    }

    /// The next line before `deadline`; `None` at the deadline or once the program closed its output.
    pub fn next_line(&mut self, deadline: Instant) -> Option<Line> {
        if self.closed {
            return None;
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(l) => {
                if self.log.len() == LOG_LINES {
                    self.log.remove(0);
                }
                self.log.push(l.text.clone());
                Some(l)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                None
            }
        }
    }

    /// Read until a line satisfies `pred`; an error names what was awaited and shows the output.
    pub fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        mut pred: impl FnMut(&Line) -> bool,
    ) -> Result<Line, String> {
        let deadline = Instant::now() + within;
        while let Some(l) = self.next_line(deadline) {
            if pred(&l) {
                return Ok(l);
            }
        }
        let why = if self.closed { "it exited" } else { "timed out" };
        Err(format!("{}: waiting for {what}: {why}; its output ends:\n{}", self.name, self.tail(30)))
    }

    /// Read (and keep in the log) everything printed within `d`.
    pub fn drain_for(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while self.next_line(deadline).is_some() {}
    }

    /// Stop with `sig`, read the rest of the output, and wait for the exit; SIGKILL after `grace`.
    pub fn stop(&mut self, sig: &str, grace: Duration) -> Result<ExitStatus, String> {
        if let Ok(Some(st)) = self.child.try_wait() {
            return Ok(st);
        }
        self.signal(sig)?;
        let deadline = Instant::now() + grace;
        while self.next_line(deadline).is_some() {}
        loop {
            if let Some(st) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(st);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("{} did not stop within {grace:?} of SIG{sig}; killed", self.name));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything read so far.
    pub fn output(&self) -> String {
        self.log.join("\n")
    }

    /// The last `n` lines read.
    pub fn tail(&self, n: usize) -> String {
        self.log[self.log.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn reads_lines_of_both_streams_and_waits_for_one() {
        let mut c = Child::spawn("sh", sh("echo one; echo two >&2; echo ready; exec sleep 5")).unwrap();
        let l = c.wait_for("ready", Duration::from_secs(5), |l| l.text == "ready").unwrap();
        assert!(!l.stderr);
        assert!(c.output().contains("one"), "stdout keeps its order");
        // The two streams are read by two threads: stderr's line may come before or after.
        if !c.output().contains("two") {
            let two = c.wait_for("two", Duration::from_secs(5), |l| l.text == "two").unwrap();
            assert!(two.stderr);
        }
        let st = c.stop("TERM", Duration::from_secs(5)).unwrap();
        assert!(!st.success(), "sh dies of SIGTERM");
    }

    #[test]
    fn a_program_that_exits_is_reported_with_its_last_words() {
        let mut c = Child::spawn("sh", sh("echo 'EAL: cannot init'; exit 3")).unwrap();
        let e = c.wait_for("ready", Duration::from_secs(5), |l| l.text == "ready").unwrap_err();
        assert!(e.contains("it exited") && e.contains("EAL: cannot init"), "{e}");
    }

    #[test]
    fn a_signal_the_program_handles_reaches_it_by_pid() {
        let script = "trap 'echo got usr1' USR1; echo ready; i=0; while [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done";
        let mut c = Child::spawn("sh", sh(script)).unwrap();
        c.wait_for("ready", Duration::from_secs(5), |l| l.text == "ready").unwrap();
        c.signal("USR1").unwrap();
        c.wait_for("the trap", Duration::from_secs(5), |l| l.text == "got usr1").unwrap();
    }

    #[test]
    fn a_program_that_ignores_the_stop_signal_is_killed() {
        let mut c = Child::spawn("sh", sh("trap '' TERM; echo ready; sleep 30")).unwrap();
        c.wait_for("ready", Duration::from_secs(5), |l| l.text == "ready").unwrap();
        let started = Instant::now();
        let e = c.stop("TERM", Duration::from_millis(300)).unwrap_err();
        assert!(e.contains("killed"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
