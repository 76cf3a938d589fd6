//! What the command prints: human lines or one JSON event per line (`--json`), the live status line, the final
//! summary, and the `tracing` log on stderr (`-v`/`-q`).

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicI8, Ordering};
use std::time::Duration;

use serde_json::{json, Map, Value};

static JSON: AtomicBool = AtomicBool::new(false);
static VERBOSITY: AtomicI8 = AtomicI8::new(0);
/// A live status line is on the terminal's current line (drawn in place, no newline yet): whatever prints
/// next must clear it first, or its text would share the line with the status.
static STATUS_DRAWN: AtomicBool = AtomicBool::new(false);

/// Carriage return and erase the whole line: what precedes any line printed while a status line is drawn.
pub(crate) const CLEAR_LINE: &str = "\r\x1b[2K";

/// `text` as a line of its own: the status line (if one is drawn) is cleared first.
fn own_line(text: &str) -> String {
    own_line_if(STATUS_DRAWN.swap(false, Ordering::Relaxed), text)
}

fn own_line_if(status_drawn: bool, text: &str) -> String {
    let clear = if status_drawn { CLEAR_LINE } else { "" };
    format!("{clear}{text}\n")
}

fn print_line(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(own_line(text).as_bytes());
    let _ = out.flush();
}

/// Sets the output mode once at start: JSON lines or text, and the verbosity (−2 errors only … +3 trace).
pub(crate) fn init(json: bool, verbosity: i8) {
    JSON.store(json, Ordering::Relaxed);
    VERBOSITY.store(verbosity, Ordering::Relaxed);
    let level = match verbosity {
        i8::MIN..=-1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Whether events are JSON lines.
pub(crate) fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// The verbosity set by [`init`].
pub(crate) fn verbosity() -> i8 {
    VERBOSITY.load(Ordering::Relaxed)
}

/// One event: in JSON mode `{"event": kind, ...fields}` on one line; otherwise `text` (unless quieted).
pub(crate) fn event(kind: &str, fields: Value, text: &str) {
    if json() {
        println!("{}", event_json(kind, fields));
    } else if verbosity() >= 0 {
        print_line(text);
    }
}

/// A plain line of the human display; in JSON mode an `{"event":"line","text":…}` event.
pub(crate) fn line(text: &str) {
    event("line", json!({ "text": text }), text);
}

fn event_json(kind: &str, fields: Value) -> String {
    let mut map = Map::new();
    map.insert("event".into(), Value::String(kind.into()));
    if let Value::Object(f) = fields {
        map.extend(f);
    }
    Value::Object(map).to_string()
}

/// Prints a line of the display (or a JSON `line` event).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { $crate::output::line(&format!($($arg)*)) };
}

/// The numbers the live status shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Status {
    /// Call state: "calling", "ringing", "early", "connected", "ended", …
    pub(crate) state: String,
    /// Negotiated SRTP profile, once known.
    pub(crate) profile: Option<String>,
    /// Time since the call started.
    pub(crate) elapsed: Duration,
    /// SRTP packets sent.
    pub(crate) packets_out: u64,
    /// SRTP packets received and authenticated.
    pub(crate) packets_in: u64,
    /// Packets lost (RFC 3550 A.3).
    pub(crate) lost: u64,
    /// Loss fraction 0..=1.
    pub(crate) loss: f64,
    /// Interarrival jitter, ms (RFC 3550 A.8).
    pub(crate) jitter_ms: f64,
}

impl Status {
    /// The one-line human form.
    pub(crate) fn text(&self) -> String {
        format!(
            "[{:>6.1}s] {:<9} {} | out {} in {} | lost {} ({:.1}%) | jitter {:.1} ms",
            self.elapsed.as_secs_f64(),
            self.state,
            self.profile.as_deref().unwrap_or("-"),
            self.packets_out,
            self.packets_in,
            self.lost,
            self.loss * 100.0,
            self.jitter_ms
        )
    }

    fn fields(&self) -> Value {
        json!({
            "state": self.state,
            "profile": self.profile,
            "elapsed_s": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "packets_out": self.packets_out,
            "packets_in": self.packets_in,
            "lost": self.lost,
            "loss": self.loss,
            "jitter_ms": (self.jitter_ms * 100.0).round() / 100.0,
        })
    }
}

/// The live status: redrawn in place on a terminal, a plain line every `plain_every` otherwise, a JSON
/// `status` event in JSON mode.
#[derive(Debug)]
pub(crate) struct StatusLine {
    tty: bool,
    drawn: bool,
    plain_every: Duration,
    last_plain: Option<Duration>,
}

impl StatusLine {
    /// Detects whether stdout is a terminal.
    pub(crate) fn new(plain_every: Duration) -> Self {
        Self::with_tty(std::io::stdout().is_terminal(), plain_every)
    }

    fn with_tty(tty: bool, plain_every: Duration) -> Self {
        Self {
            tty,
            drawn: false,
            plain_every,
            last_plain: None,
        }
    }

    /// What to print for this update, if anything (separated from the printing for tests).
    fn render(&mut self, s: &Status) -> Option<String> {
        if json() {
            return self
                .due(s.elapsed)
                .then(|| event_json("status", s.fields()) + "\n");
        }
        if verbosity() < 0 {
            return None;
        }
        if self.tty {
            self.drawn = true;
            STATUS_DRAWN.store(true, Ordering::Relaxed);
            // Carriage return, the line, erase to the end of the line: the line is redrawn in place.
            Some(format!("\r{}\x1b[K", s.text()))
        } else {
            self.due(s.elapsed).then(|| s.text() + "\n")
        }
    }

    fn due(&mut self, elapsed: Duration) -> bool {
        match self.last_plain {
            Some(last) if elapsed < last + self.plain_every => false,
            _ => {
                self.last_plain = Some(elapsed);
                true
            }
        }
    }

    /// Shows an update.
    pub(crate) fn update(&mut self, s: &Status) {
        if let Some(text) = self.render(s) {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }

    /// Ends the in-place line (before other output or the summary): it is cleared, the summary repeats it.
    pub(crate) fn finish(&mut self) {
        if self.tty && self.drawn && STATUS_DRAWN.swap(false, Ordering::Relaxed) {
            print!("{CLEAR_LINE}");
            let _ = std::io::stdout().flush();
        }
        self.drawn = false;
    }
}

/// The final summary: always printed (also with `-q`), as a `summary` event in JSON mode.
pub(crate) fn summary(s: &Status, outcome: &str, exit_code: u8) {
    summary_with(s, outcome, exit_code, &Map::new());
}

/// [`summary`] with more JSON fields (`extra`: SRTP profile, DTLS role, encrypted, why the call ended...).
pub(crate) fn summary_with(s: &Status, outcome: &str, exit_code: u8, extra: &Map<String, Value>) {
    if json() {
        let mut f = s.fields();
        if let Value::Object(m) = &mut f {
            m.insert("outcome".into(), Value::String(outcome.into()));
            m.insert("exit_code".into(), Value::from(exit_code));
            m.extend(extra.clone());
        }
        println!("{}", event_json("summary", f));
    } else if verbosity() >= -1 {
        print_line(&format!(
            "summary: {outcome} (exit {exit_code}): {}",
            s.text()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(secs: f64) -> Status {
        Status {
            state: "connected".into(),
            profile: Some("SRTP_AES128_CM_HMAC_SHA1_80".into()),
            elapsed: Duration::from_secs_f64(secs),
            packets_out: 100,
            packets_in: 98,
            lost: 2,
            loss: 0.02,
            jitter_ms: 0.5,
        }
    }

    #[test]
    fn terminal_redraws_in_place_and_plain_output_is_rate_limited() {
        let mut tty = StatusLine::with_tty(true, Duration::from_secs(1));
        let a = tty.render(&status(0.1)).unwrap();
        assert!(
            a.starts_with('\r') && a.ends_with("\x1b[K") && !a.contains('\n'),
            "{a:?}"
        );
        assert!(
            a.contains("out 100 in 98 | lost 2 (2.0%) | jitter 0.5 ms"),
            "{a}"
        );
        assert!(tty.render(&status(0.2)).is_some(), "every update redraws");

        let mut plain = StatusLine::with_tty(false, Duration::from_secs(1));
        let first = plain.render(&status(0.1)).unwrap();
        assert!(first.ends_with('\n') && !first.contains('\r'));
        assert!(plain.render(&status(0.5)).is_none());
        assert!(plain.render(&status(1.2)).is_some());
    }

    /// Issue 13: a terminal status line drawn in place is cleared (CR + erase line) before the next event line
    /// and before the summary, so no event shares a line with the status.
    #[test]
    fn an_event_line_never_shares_the_terminal_line_with_the_status() {
        let mut tty = StatusLine::with_tty(true, Duration::from_secs(1));
        let mut screen = String::new();
        screen.push_str(&tty.render(&status(3.9)).unwrap());
        screen.push_str(&own_line_if(
            std::mem::take(&mut tty.drawn),
            "  4007.2 ms  call ended: the other side hung up",
        ));
        screen.push_str(&tty.render(&status(4.0)).unwrap());
        screen.push_str(&tty.render(&status(4.1)).unwrap());
        screen.push_str(&own_line_if(
            std::mem::take(&mut tty.drawn),
            "summary: media authenticated both ways",
        ));
        screen.push_str(&own_line_if(
            std::mem::take(&mut tty.drawn),
            "a line with no status before it",
        ));
        assert!(
            screen.contains("jitter 0.5 ms\x1b[K\r\x1b[2K  4007.2 ms  call ended"),
            "{screen:?}"
        );
        // What a terminal shows: per line, the text after the last CR that is followed by an erase.
        for line in screen.split('\n') {
            let shown = line.rsplit("\r\x1b[2K").next().unwrap_or(line);
            let shown = shown.rsplit('\r').next().unwrap_or(shown);
            assert!(
                !(shown.contains("jitter")
                    && (shown.contains("ended") || shown.contains("summary"))),
                "status and event on one line: {shown:?}"
            );
        }
        assert!(!screen.ends_with(&format!("{CLEAR_LINE}a line with no status before it\n")));
    }

    #[test]
    fn json_events_are_one_object_per_line() {
        let v: Value = serde_json::from_str(&event_json("status", status(1.0).fields())).unwrap();
        assert_eq!(v["event"], "status");
        assert_eq!(v["packets_in"], 98);
        assert_eq!(v["profile"], "SRTP_AES128_CM_HMAC_SHA1_80");
        let v: Value =
            serde_json::from_str(&event_json("line", json!({"text": "a \"quoted\"\nline"})))
                .unwrap();
        assert_eq!(v["text"], "a \"quoted\"\nline");
    }
}
