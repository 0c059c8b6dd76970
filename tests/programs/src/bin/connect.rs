//! Tries every way out to the network: a TCP connection to argv[1] (which
//! then sends `hello`), a UDP socket sending to it, and a name lookup.
//! Prints one line per attempt; exits 0 when all were refused, 1 when any
//! got through.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};

fn main() {
    let address = std::env::args().nth(1).expect("host:port to reach");
    let mut escaped = false;
    match TcpStream::connect(&address) {
        Ok(mut stream) => {
            println!("tcp connect {address}: CONNECTED");
            let sent = stream.write_all(b"hello").and_then(|()| stream.flush());
            println!("tcp send {address}: {sent:?}");
            escaped = true;
        }
        Err(e) => println!("tcp connect {address}: refused: {e}"),
    }
    match UdpSocket::bind("0.0.0.0:0").and_then(|s| s.send_to(b"hello", &address)) {
        Ok(_) => {
            println!("udp send {address}: SENT");
            escaped = true;
        }
        Err(e) => println!("udp send {address}: refused: {e}"),
    }
    match ("localhost", 80).to_socket_addrs() {
        Ok(mut found) => {
            let first = found.next();
            println!("lookup localhost: RESOLVED {first:?}");
            escaped = true;
        }
        Err(e) => println!("lookup localhost: refused: {e}"),
    }
    std::process::exit(i32::from(escaped));
}
