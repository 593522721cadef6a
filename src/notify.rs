//! systemd's notification protocol, over std's `UnixDatagram`: READY=1 once
//! the state is loaded and the first cycle is done, STATUS= lines, STOPPING=1
//! on shutdown, and WATCHDOG=1 at half the `WATCHDOG_USEC` period when the
//! unit sets `WatchdogSec=`. Without `NOTIFY_SOCKET` every call does nothing;
//! a send that fails is logged at debug level and never stops the collector.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// Where notifications go, and the watchdog's rhythm.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, String)>,
    /// Half the watchdog period: how often to ping.
    ping_every: Option<Duration>,
    last_ping: Instant,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the environment.
    pub fn from_env() -> Notifier {
        Notifier::new(
            std::env::var("NOTIFY_SOCKET").ok(),
            std::env::var("WATCHDOG_USEC").ok(),
            std::env::var("WATCHDOG_PID").ok(),
        )
    }

    fn new(
        socket: Option<String>,
        watchdog_usec: Option<String>,
        watchdog_pid: Option<String>,
    ) -> Notifier {
        let target =
            socket
                .filter(|s| !s.is_empty())
                .and_then(|address| match UnixDatagram::unbound() {
                    Ok(sock) => Some((sock, address)),
                    Err(e) => {
                        log::debug!("notify: cannot make a socket: {e}");
                        None
                    }
                });
        // The watchdog is ours unless it names another process.
        let ours = watchdog_pid.is_none_or(|pid| pid.parse() == Ok(std::process::id()));
        let ping_every = watchdog_usec
            .and_then(|usec| usec.parse::<u64>().ok())
            .filter(|&usec| usec > 0 && ours && target.is_some())
            .map(|usec| Duration::from_micros(usec) / 2);
        Notifier {
            target,
            ping_every,
            last_ping: Instant::now(),
        }
    }

    /// Sends one datagram of `KEY=VALUE` lines.
    pub fn send(&self, message: &str) {
        let Some((sock, address)) = &self.target else {
            return;
        };
        if let Err(e) = send_to(sock, address, message.as_bytes()) {
            log::debug!("notify: cannot send to {address}: {e}");
        }
    }

    /// Ready, with a status line.
    pub fn ready(&mut self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
        self.last_ping = Instant::now();
    }

    /// Pings the watchdog if half its period has passed.
    pub fn keep_alive(&mut self) {
        if let Some(every) = self.ping_every {
            if self.last_ping.elapsed() >= every {
                self.send("WATCHDOG=1");
                self.last_ping = Instant::now();
            }
        }
    }

    /// How long the loop may sleep before the next watchdog ping is due.
    pub fn next_ping_in(&self) -> Option<Duration> {
        self.ping_every
            .map(|every| every.saturating_sub(self.last_ping.elapsed()))
    }
}

/// Sends to a socket path, or to an abstract name (`@name`, Linux only).
fn send_to(sock: &UnixDatagram, address: &str, bytes: &[u8]) -> std::io::Result<usize> {
    if let Some(name) = address.strip_prefix('@') {
        return send_abstract(sock, name, bytes);
    }
    sock.send_to(bytes, address)
}

#[cfg(target_os = "linux")]
fn send_abstract(sock: &UnixDatagram, name: &str, bytes: &[u8]) -> std::io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    sock.send_to_addr(bytes, &addr)
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_: &UnixDatagram, _: &str, _: &[u8]) -> std::io::Result<usize> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "abstract sockets are Linux-only",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_socket_nothing_happens() {
        let mut n = Notifier::new(None, Some("1000000".into()), None);
        n.ready("x");
        n.keep_alive();
        assert_eq!(n.next_ping_in(), None, "no watchdog without a socket");
    }

    #[test]
    fn datagrams_reach_a_path_socket_and_the_watchdog_pings_at_half_period() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut n = Notifier::new(Some(path.display().to_string()), Some("2000".into()), None);
        n.ready("following 2 files");
        let mut buf = [0u8; 256];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=following 2 files");
        assert!(n.next_ping_in().unwrap() <= Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(2));
        n.keep_alive();
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[test]
    fn a_watchdog_for_another_process_is_not_ours() {
        let n = Notifier::new(
            Some("/nonexistent".into()),
            Some("1000".into()),
            Some("1".into()),
        );
        assert_eq!(n.next_ping_in(), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abstract_sockets_work() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("log-collector-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let n = Notifier::new(Some(format!("@{name}")), None, None);
        n.send("STOPPING=1");
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1");
    }
}
