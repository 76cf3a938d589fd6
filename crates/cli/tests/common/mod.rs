//! Helpers shared by the CLI's process tests: the binary under test, and a child process stopped by its PID
//! when the test ends, however it ends.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
#![allow(clippy::disallowed_methods)] // tests: real processes and clock

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_dtlsrtp");

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A `dtlsrtp` child killed (by its PID, through `Child::kill`) when the test ends, however it ends.
pub struct Running(Option<Child>);

impl Running {
    pub fn spawn(args: &[&str]) -> Self {
        let child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dtlsrtp");
        Self(Some(child))
    }

    pub fn pid(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    /// Hands stdout to a reader thread; the returned buffer fills as the process prints (line by line).
    pub fn watch_stdout(&mut self) -> Arc<Mutex<String>> {
        let out = Arc::new(Mutex::new(String::new()));
        let mut pipe = self.0.as_mut().unwrap().stdout.take().unwrap();
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        out
    }

    /// Waits at most `limit` for the exit; kills it past that.
    pub fn wait(mut self, limit: Duration) -> Output {
        let mut child = self.0.take().unwrap();
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if child.try_wait().unwrap().is_some() {
                return child.wait_with_output().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let o = child.wait_with_output().unwrap();
        panic!("dtlsrtp did not exit within {limit:?}: {}", text(&o));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
