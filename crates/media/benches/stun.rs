//! STUN/ICE hot path on one media port: demux, decode, MESSAGE-INTEGRITY, and an ICE-lite agent answering a
//! browser-style check (decode + verify + encode a signed, fingerprinted response).
//!
//! `cargo bench -p dtlsrtp-media --bench stun` prints figures; without `--bench` in argv (as under
//! `cargo test --all-targets`) it runs a short smoke pass with correctness asserts.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dtlsrtp_media::ice::{IceAgent, IceConfig, IceCredentials, IceMode, IceRole};
use dtlsrtp_media::stun::{Message, MessageBuilder, MessageType, TransactionId};
use dtlsrtp_media::{classify, PacketKind};

const RFC5769_REQUEST: &str = "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74\
002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f2\
49c1b571a280280004e57a3bcf";

fn time<F: FnMut() -> usize>(name: &str, iters: u32, mut f: F) -> Duration {
    #[allow(clippy::disallowed_methods)] // a benchmark measures wall time
    let start = Instant::now();
    let mut sink = 0usize;
    for _ in 0..iters {
        sink = sink.wrapping_add(f());
    }
    let el = start.elapsed();
    black_box(sink);
    let ns = el.as_nanos() as f64 / f64::from(iters);
    println!("{name:<44} {ns:>9.1} ns/op  {:>12.0} ops/s", 1e9 / ns);
    el
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bench = std::env::args().any(|a| a == "--bench");
    let iters = if bench { 200_000 } else { 50 };
    let req = hex::decode(RFC5769_REQUEST)?;
    assert_eq!(req.len(), 108);

    time("demux classify (STUN)", iters * 10, || {
        usize::from(classify(black_box(&req)) == PacketKind::Stun)
    });
    time("STUN decode (RFC 5769 request, FINGERPRINT)", iters, || {
        Message::decode(black_box(&req))
            .map(|m| m.priority.is_some() as usize)
            .unwrap_or(0)
    });
    let m = Message::decode(&req)?;
    time("MESSAGE-INTEGRITY verify (HMAC-SHA1)", iters, || {
        usize::from(
            m.verify_integrity(black_box(b"VOkJxbRl1RmTxUk/WvJxBt"))
                .is_ok(),
        )
    });
    time(
        "encode success response (XOR-MAPPED, MI, FP)",
        iters,
        || {
            let mut b = MessageBuilder::new(MessageType::BINDING_SUCCESS, TransactionId([7; 12]));
            b.xor_mapped_address(SocketAddr::from(([127, 0, 0, 1], 6000)))
                .message_integrity(b"passwordpasswordpassword")
                .fingerprint();
            b.finish().map(|v| v.len()).unwrap_or(0)
        },
    );

    #[allow(clippy::disallowed_methods)] // origin of the benchmark's clock
    let now = Instant::now();
    let mut s = 1u32;
    let fill = Box::new(move |buf: &mut [u8]| {
        for b in buf {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            *b = (s >> 24) as u8;
        }
    });
    let creds = IceCredentials::new("ufrag1", "passwordpasswordpassword")?;
    let cfg = IceConfig {
        mode: IceMode::Lite,
        ..IceConfig::default()
    };
    let mut agent = IceAgent::new(now, cfg, creds.clone(), IceRole::Controlled, fill);
    let local = SocketAddr::from(([127, 0, 0, 1], 5004));
    let peer = SocketAddr::from(([127, 0, 0, 1], 6004));
    agent.add_local_candidate(local);
    let mut check = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([1; 12]));
    check
        .username("ufrag1:brws")
        .attribute(0xC057, &[0, 1, 0, 10])
        .ice_controlling(42)
        .use_candidate()
        .priority(1_853_824_767)
        .message_integrity(creds.pwd().as_bytes())
        .fingerprint();
    let check = check.finish()?;
    let mut answered = 0usize;
    time("ICE-lite agent: answer one check", iters, || {
        let ok = agent
            .handle_stun(now, local, peer, black_box(&check))
            .is_ok();
        while let Some(t) = agent.poll_transmit() {
            answered += usize::from(t.bytes[0..2] == [0x01, 0x01]);
        }
        while agent.poll_event().is_some() {}
        usize::from(ok)
    });
    assert_eq!(
        answered, iters as usize,
        "every check answered with a success response"
    );
    assert_eq!(agent.selected_pair(), Some((local, peer)));
    Ok(())
}
