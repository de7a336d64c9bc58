//! The `mpdk` command line: bad input gives one line on stderr and a non-zero exit,
//! never a panic; good input works on the kernel fixtures.

use std::process::{Command, Output};

fn mpdk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mpdk"))
        .args(args)
        .output()
        .expect("run mpdk")
}

fn fixture(name: &str) -> String {
    format!(
        "{}/../dataplane/tests/fixtures/kernel/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn assert_one_line_error(out: &Output, code: i32, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("mpdk: ") && err.contains(needle), "{err:?}");
    assert!(!err.contains("panicked"), "{err:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    assert_one_line_error(
        &mpdk(&["--", "--listen", "1", "--connect", "1.2.3.4:5"]),
        2,
        "one of --listen and --connect",
    );
    assert_one_line_error(
        &mpdk(&["--no-huge", "--", "--limits", "subflows=9"]),
        2,
        "over the maximum 8",
    );
    assert_one_line_error(&mpdk(&["--", "--bogus"]), 2, "unknown option '--bogus'");
    assert_one_line_error(&mpdk(&["frobnicate"]), 2, "unknown command 'frobnicate'");
    assert_one_line_error(&mpdk(&["pcap-decode"]), 2, "missing FILE");
    assert_one_line_error(
        &mpdk(&["pcap-decode", "--jsn", "x"]),
        2,
        "unknown option '--jsn'",
    );
    assert_one_line_error(&mpdk(&["pcap-decode", "a", "b"]), 2, "more than one FILE");
}

#[test]
fn unreadable_or_bad_files_exit_1() {
    assert_one_line_error(
        &mpdk(&["pcap-decode", "/nonexistent/file.pcap"]),
        1,
        "/nonexistent/file.pcap",
    );
    let dir = std::env::temp_dir().join(format!("mpdk-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture at all").unwrap();
    assert_one_line_error(
        &mpdk(&["pcap-decode", junk.to_str().unwrap()]),
        1,
        "not a readable pcap",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_capture_decodes_what_is_there() {
    let full = std::fs::read(fixture("mpc_v1.pcap")).unwrap();
    let dir = std::env::temp_dir().join(format!("mpdk-cli-t-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let out = mpdk(&["pcap-decode", cut.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success());
    let lines = String::from_utf8(out.stdout).unwrap().lines().count();
    assert!(lines > 5, "decoded the first half: {lines} lines");
}

#[test]
fn text_and_json_have_one_line_per_tcp_packet() {
    let text = mpdk(&["pcap-decode", &fixture("join.pcap")]);
    let json = mpdk(&["pcap-decode", "--json", &fixture("join.pcap")]);
    assert!(text.status.success() && json.status.success());
    let t = String::from_utf8(text.stdout).unwrap();
    let j = String::from_utf8(json.stdout).unwrap();
    assert_eq!(t.lines().count(), j.lines().count());
    assert!(t.contains("mp_join") && t.contains("[SA]"));
    for line in j.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["frame"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn help_and_version() {
    let h = mpdk(&["--help"]);
    assert!(h.status.success() && String::from_utf8_lossy(&h.stdout).contains("pcap-decode"));
    let v = mpdk(&["--version"]);
    assert!(v.status.success() && String::from_utf8_lossy(&v.stdout).starts_with("mpdk "));
}
