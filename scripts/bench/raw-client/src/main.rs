//! Two reference clients that send one pre-encoded message COUNT times over CONNS
//! connections, for scripts/bench.sh:
//!
//! - `push`: writes the whole session (EHLO, every MAIL, RCPT, DATA, content and dot,
//!   QUIT) without waiting for any reply; a second thread only drains the replies. It is
//!   not RFC-compliant (it sends content before the 354), so it is a ceiling: what the
//!   server can take on this machine, with nothing spent on waiting or encoding.
//! - `round-trip`: RFC 2920-compliant, one round trip per message: the content and dot of
//!   one message and the next MAIL, RCPT and DATA go out in one write, then it waits for
//!   the replies up to the 354. The floor of what a compliant DATA client can do.
//!
//! - `sendfile`: one message, as `push` but the content is copied from the file by the
//!   kernel (`std::io::copy` from a file to a socket uses sendfile/splice on Linux): the
//!   wire rate of a large pre-encoded message.
//!
//! Usage: raw-client push|round-trip|sendfile HOST PORT COUNT MESSAGE-FILE [CONNS]
//! MESSAGE-FILE holds the message with CRLF line endings and no line starting with a dot.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::ExitCode;

const FROM: &str = "bench@example.com";
const TO: &str = "sink@example.com";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        eprintln!("usage: raw-client push|round-trip HOST PORT COUNT MESSAGE-FILE [CONNS]");
        return ExitCode::from(2);
    }
    let mode = args[1].clone();
    let addr = format!("{}:{}", args[2], args[3]);
    let count: usize = args[4].parse().expect("COUNT");
    if mode == "sendfile" {
        return match sendfile(&addr, &args[5]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("raw-client: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let message = std::fs::read(&args[5]).expect("MESSAGE-FILE");
    let conns: usize = args.get(6).map_or(1, |c| c.parse().expect("CONNS"));
    let mut content = message;
    if !content.ends_with(b"\r\n") {
        content.extend_from_slice(b"\r\n");
    }
    content.extend_from_slice(b".\r\n");
    let threads: Vec<_> = (0..conns)
        .map(|i| {
            let share = count / conns + usize::from(i < count % conns);
            let (mode, addr, content) = (mode.clone(), addr.clone(), content.clone());
            std::thread::spawn(move || match mode.as_str() {
                "push" => push(&addr, share, &content),
                "round-trip" => round_trip(&addr, share, &content),
                other => Err(format!("unknown mode {other}")),
            })
        })
        .collect();
    let mut failed = false;
    for t in threads {
        if let Err(e) = t.join().unwrap_or_else(|_| Err("thread panicked".into())) {
            eprintln!("raw-client: {e}");
            failed = true;
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn envelope() -> Vec<u8> {
    format!("MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n").into_bytes()
}

/// Reads one reply (all its lines); returns its code.
fn reply(r: &mut BufReader<TcpStream>, line: &mut String) -> Result<u16, String> {
    loop {
        line.clear();
        let n = r.read_line(line).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("server closed the connection".into());
        }
        if line.len() < 4 {
            return Err(format!("bad reply {line:?}"));
        }
        if line.as_bytes()[3] == b' ' || line.len() == 5 {
            return line[..3].parse().map_err(|_| format!("bad reply {line:?}"));
        }
    }
}

fn expect(r: &mut BufReader<TcpStream>, line: &mut String, class: u16) -> Result<(), String> {
    let code = reply(r, line)?;
    if code / 100 != class {
        return Err(format!("unexpected reply {}", line.trim_end()));
    }
    Ok(())
}

fn push(addr: &str, count: usize, content: &[u8]) -> Result<(), String> {
    let stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).ok();
    let mut reader = BufReader::with_capacity(64 * 1024, stream.try_clone().map_err(|e| e.to_string())?);
    // Replies owed: greeting, EHLO, then MAIL, RCPT, DATA and dot per message, then QUIT.
    let owed = 2 + 4 * count + 1;
    let drain = std::thread::spawn(move || {
        let mut line = String::new();
        let mut bad = 0usize;
        for _ in 0..owed {
            let code = reply(&mut reader, &mut line)?;
            bad += usize::from(code >= 400);
        }
        if bad > 0 {
            return Err(format!("{bad} negative replies"));
        }
        Ok(())
    });
    let mut w = std::io::BufWriter::with_capacity(256 * 1024, stream);
    let env = envelope();
    let io = |e: std::io::Error| e.to_string();
    w.write_all(b"EHLO raw-client\r\n").map_err(io)?;
    for _ in 0..count {
        w.write_all(&env).map_err(io)?;
        w.write_all(content).map_err(io)?;
    }
    w.write_all(b"QUIT\r\n").map_err(io)?;
    w.flush().map_err(io)?;
    drain.join().unwrap_or_else(|_| Err("reader panicked".into()))
}

fn round_trip(addr: &str, count: usize, content: &[u8]) -> Result<(), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).ok();
    let mut r = BufReader::with_capacity(64 * 1024, stream.try_clone().map_err(|e| e.to_string())?);
    let mut line = String::new();
    let io = |e: std::io::Error| e.to_string();
    expect(&mut r, &mut line, 2)?;
    stream.write_all(b"EHLO raw-client\r\n").map_err(io)?;
    expect(&mut r, &mut line, 2)?;
    let env = envelope();
    let mut group = Vec::with_capacity(content.len() + env.len());
    for i in 0..=count {
        group.clear();
        if i > 0 {
            group.extend_from_slice(content);
        }
        if i < count {
            group.extend_from_slice(&env);
        } else {
            group.extend_from_slice(b"QUIT\r\n");
        }
        stream.write_all(&group).map_err(io)?;
        if i > 0 {
            expect(&mut r, &mut line, 2)?; // the previous message's dot
        }
        if i < count {
            expect(&mut r, &mut line, 2)?; // MAIL
            expect(&mut r, &mut line, 2)?; // RCPT
            expect(&mut r, &mut line, 3)?; // DATA: 354
        }
    }
    expect(&mut r, &mut line, 2) // QUIT
}

fn sendfile(addr: &str, path: &str) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut stream = TcpStream::connect(addr).map_err(io)?;
    stream.set_nodelay(true).ok();
    let mut reader = BufReader::new(stream.try_clone().map_err(io)?);
    let drain = std::thread::spawn(move || {
        let mut line = String::new();
        // Greeting, EHLO, MAIL, RCPT, DATA, dot, QUIT.
        for _ in 0..7 {
            if reply(&mut reader, &mut line)? >= 400 {
                return Err(format!("negative reply {}", line.trim_end()));
            }
        }
        Ok(())
    });
    stream.write_all(b"EHLO raw-client\r\n").map_err(io)?;
    stream.write_all(&envelope()).map_err(io)?;
    std::io::copy(&mut file, &mut stream).map_err(io)?;
    stream.write_all(b".\r\nQUIT\r\n").map_err(io)?;
    drain.join().unwrap_or_else(|_| Err("reader panicked".into()))
}
