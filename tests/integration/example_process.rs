//! The examples as real processes: started on a free loopback port, spoken to over plain
//! HTTP/1.1, killed when dropped. `cargo test` builds the examples before the integration
//! tests; `cargo test --test integration` alone does not, so a missing binary is reported
//! with the command that builds it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running example; killed (and reaped) on drop.
pub(crate) struct ExampleProcess {
    child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) stderr_path: PathBuf,
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr_path);
    }
}

/// The path of a built example next to this test binary (`target/<profile>/examples/`).
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/integration-<hash> -> target/<profile>/examples/<name>
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --all-features --example {name}` (plain \
         `cargo test` builds it)",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ExampleProcess {
    /// Starts `name` with `args`, the listen address in `addr_var` and `env`, and waits
    /// until it prints `ready` on stdout.
    pub(crate) fn start(
        name: &str,
        args: &[&str],
        addr_var: &str,
        env: &[(&str, &str)],
        ready: &str,
    ) -> ExampleProcess {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let stderr_path = std::env::temp_dir().join(format!(
            "secure-api-{name}-{}-{port}.log",
            std::process::id()
        ));
        let stderr = std::fs::File::create(&stderr_path).unwrap();
        let mut command = Command::new(example_binary(name));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(addr_var, addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let ready = ready.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains(&ready) {
                    let _ = tx.send(());
                }
            }
        });
        let process = ExampleProcess {
            child,
            addr,
            stderr_path,
        };
        if rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let log = std::fs::read_to_string(&process.stderr_path).unwrap_or_default();
            panic!("{name} did not start on {addr}: {log}");
        }
        process
    }

    /// What the process wrote to stderr so far (its log).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// One HTTP/1.1 request on a fresh connection; the status and the body.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        if let Some(body) = body {
            stream.write_all(body.as_bytes()).unwrap();
        }
        let mut response = Vec::new();
        // The server may close after answering early (an oversize header); keep what came.
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }
}
