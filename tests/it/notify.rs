//! systemd notifications: the exact datagrams the collector sends to the
//! socket named by NOTIFY_SOCKET (set in the child's environment only).

use std::os::unix::net::UnixDatagram;

use crate::util::*;

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("a datagram before the deadline");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_after_the_first_cycle_then_watchdog_pings_then_stopping() {
    let s = Scenario::new();
    s.write("a.log", b"one\ntwo\n");
    let path = s.path("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut cmd = s.command(&["-i", "1s", "a.log"]);
    cmd.env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", "200000");
    let d = Daemon::start(cmd);
    // READY comes once the first cycle has delivered what was there.
    assert_eq!(
        recv(&sock),
        "READY=1\nSTATUS=following 1 files; 2 lines delivered"
    );
    // Written before READY, but read from the pipe by another thread here.
    d.wait_stdout_eq(b"one\ntwo\n");
    // Half of WATCHDOG_USEC, though the interval is longer.
    assert_eq!(recv(&sock), "WATCHDOG=1");
    assert_eq!(recv(&sock), "WATCHDOG=1");
    d.stop_ok();
    let mut last = recv(&sock);
    while last == "WATCHDOG=1" {
        last = recv(&sock);
    }
    assert_eq!(last, "STOPPING=1");
}

#[test]
fn no_notify_socket_means_no_notifications_and_no_errors() {
    let s = Scenario::new();
    s.write("a.log", b"one\n");
    let mut cmd = s.command(&["--once", "a.log"]);
    cmd.env_remove("NOTIFY_SOCKET").env("WATCHDOG_USEC", "1000");
    let r = Daemon::start(cmd).wait_exit();
    assert_eq!(r.code(), 0, "{}", r.stderr);
    assert_eq!(r.stdout, b"one\n");
}
