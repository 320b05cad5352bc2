//! A WiFi ELM327 on a loopback TCP port, scripted: the adapter's own
//! commands answered as a plain ELM327 v1.5 clone would (no `ATMA`, no STN
//! commands), bus requests from a table; every command it heard is kept.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

pub type Heard = Arc<Mutex<Vec<String>>>;

/// Starts the adapter; `answers` maps a bus request (as typed, upper
/// case, no spaces) to its answer lines, anything else is `NO DATA`.
/// Returns the port and every command heard.
pub fn tcp_elm(answers: &'static [(&'static str, &'static str)]) -> (u16, Heard) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let heard: Heard = Arc::default();
    let log = Arc::clone(&heard);
    std::thread::spawn(move || -> std::io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while conn.read(&mut byte)? == 1 {
            if byte[0] != b'\r' {
                line.push(byte[0]);
                continue;
            }
            let cmd = String::from_utf8_lossy(&line).trim().to_uppercase();
            line.clear();
            log.lock().unwrap().push(cmd.clone());
            let answer = match cmd.as_str() {
                "" => String::new(),
                "ATZ" | "ATI" => "ELM327 v1.5".into(),
                "ATRV" => "12.4V".into(),
                "ATMA" => "?".into(),
                c if c.starts_with("ST") => "?".into(),
                c if c.starts_with("AT") => "OK".into(),
                c => answers
                    .iter()
                    .find(|(req, _)| *req == c)
                    .map_or_else(|| "NO DATA".to_owned(), |(_, a)| (*a).to_owned()),
            };
            let reply = if answer.is_empty() {
                ">".to_owned()
            } else {
                format!("{answer}\r\r>")
            };
            conn.write_all(reply.as_bytes())?;
        }
        Ok(())
    });
    (port, heard)
}
