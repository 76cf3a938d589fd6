//! Every test vector of requirements.md §3.1–3.4, as data: RFC 3711 B.2/B.3, RFC 6188 §7.1–7.4,
//! RFC 7714 §16–17 (S-1, S-2, S-5, S-6).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use dtlsrtp_srtp::backend::{CryptoBackend, RustCrypto};
use dtlsrtp_srtp::{Config, SrtpContext, SrtpError, SrtpProfile};

fn h(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).unwrap()
}

/// Keystream vectors: (name, session key, first 3 blocks, last 3 blocks), counter layout of RFC 3711 B.2.
const KEYSTREAMS: &[(&str, &str, &str, &str)] = &[
    (
        "RFC 3711 B.2 AES-128-CM",
        "2B7E151628AED2A6ABF7158809CF4F3C",
        "E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB 41E95B3BB0A2E8DD477901E4FCA894C0",
        "EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE 6A2CC3787889374FBEB4C81B17BA6C44",
    ),
    (
        "RFC 6188 7.1 AES-256-CM",
        "57f82fe3613fd170a85ec93c40b1f0922ec4cb0dc025b58272147cc438944a98",
        "92bdd28a93c3f52511c677d08b5515a4 9da71b2378a854f67050756ded165bac 63c4868b7096d88421b563b8c94c9a31",
        "cea518c90fd91ced9cbb18c078a54711 3dbc4814f4da5f00a08772b63c6a046d 6eb246913062a16891433e97dd01a57f",
    ),
    (
        "RFC 6188 7.3 AES-192-CM",
        "eab234764e517b2d3d160d587d8c86219740f65f99b6bcf7",
        "35096cba4610028dc1b57503804ce37c 5de986291dcce161d5165ec4568f5c9a 474a40c77894bc17180202272a4c264d",
        "d108d1a31a00bad6367ec23eb044b415 c8f57129fdeb970b59f917b257662d4c a5dab625811034e8cebdfeb6dc158dd3",
    ),
];

const KEYSTREAM_LEN: usize = 1_044_512; // 65282 blocks
const B2_SALT: &str = "F0F1F2F3F4F5F6F7F8F9FAFBFCFD";

/// S-2: RFC 3711 B.2 through the packet path: SSRC 0, SEQ 0, ROC 0 and an all-zero payload, so the
/// encrypted payload is the keystream.
#[test]
fn s_2_rfc3711_b2_keystream_via_zero_payload() {
    let (_, key, first, last) = KEYSTREAMS[0];
    let key = h(key);
    let salt = h(B2_SALT);
    let auth = [0u8; 20];
    let mut ctx = SrtpContext::from_session_keys(
        SrtpProfile::Aes128CmHmacSha1_80,
        (&key, &auth, &salt),
        (&key, &auth, &salt),
        &Config::default(),
    )
    .unwrap();
    let header = h("800f0000decafbad00000000");
    let mut pkt = header.clone();
    pkt.resize(12 + KEYSTREAM_LEN, 0);
    ctx.protect_rtp(&mut pkt).unwrap();
    let ks = &pkt[12..12 + KEYSTREAM_LEN];
    assert_eq!(&pkt[..12], &header[..]);
    assert_eq!(ks[..48], h(first)[..], "first blocks");
    assert_eq!(ks[KEYSTREAM_LEN - 48..], h(last)[..], "last blocks");
}

/// RFC 3711 B.2 and RFC 6188 §7.1/§7.3 through the generic counter-mode primitive (AES-128/192/256).
#[test]
fn s_2_rfc6188_7_1_7_3_keystreams_generic_ctr() {
    let mut iv = [0u8; 16];
    iv[..14].copy_from_slice(&h(B2_SALT));
    for (name, key, first, last) in KEYSTREAMS {
        let ctr = RustCrypto.aes_ctr(&h(key)).unwrap();
        let mut ks = vec![0u8; KEYSTREAM_LEN];
        ctr.apply_keystream(&iv, &mut ks);
        assert_eq!(ks[..48], h(first)[..], "{name} first blocks");
        assert_eq!(ks[KEYSTREAM_LEN - 48..], h(last)[..], "{name} last blocks");
    }
}

/// KDF vectors: (name, master key, master salt, cipher key, cipher salt, auth key prefix).
const KDFS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "RFC 3711 B.3 AES-128 PRF",
        "E1F97A0D3E018BE0D64FA32C06DE4139",
        "0EC675AD498AFEEBB6960B3AABE6",
        "C61E7A93744F39EE10734AFE3FF7A087",
        "30CBBC08863D8C85D49DB34A9AE1",
        // The RFC shows 94 octets of label-1 output; all are checked.
        "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE E049646C43D9327AD175578EF7227098
         6371C10C9A369AC2F94A8C5FBCDDDC25 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2",
    ),
    (
        "RFC 6188 7.2 AES-256 PRF",
        "f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6",
        "3b04803de51ee7c96423ab5b78d2",
        "5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4",
        "fa31791685ca444a9e07c6c64e93",
        "fd9c32d39ed5fbb5a9dc96b30818454d1313dc05",
    ),
    (
        "RFC 6188 7.4 AES-192 PRF",
        "73edc66c4fa15776fb57f9505c17136550ffda71f3e8e5f1",
        "c8522f3acd4ce86d5add78edbb11",
        "31874736a8f1143870c26e4857d8a5b2c4a354407faadabb",
        "2372b82d639b6d8503a47adc0a6c",
        "355b10973cd95b9eacf4061c7e1a7151e7cfbfcb",
    ),
];

/// S-1: RFC 3711 B.3 and RFC 6188 §7.2/§7.4 key derivation (labels 0, 1, 2; KDR 0).
#[test]
fn s_1_rfc3711_b3_rfc6188_7_2_7_4_kdf() {
    use dtlsrtp_srtp::__private::kdf;
    for (name, mk, ms, ck, cs, ak) in KDFS {
        let (mk, ms, ck, cs, ak) = (h(mk), h(ms), h(ck), h(cs), h(ak));
        let mut out = vec![0u8; ck.len()];
        assert!(kdf(&mk, &ms, 0, &mut out));
        assert_eq!(out, ck, "{name} cipher key");
        let mut out = vec![0u8; cs.len()];
        assert!(kdf(&mk, &ms, 2, &mut out));
        assert_eq!(out, cs, "{name} cipher salt");
        let mut out = vec![0u8; ak.len()];
        assert!(kdf(&mk, &ms, 1, &mut out));
        assert_eq!(out, ak, "{name} auth key");
    }
}

const GCM_KEY_128: &str = "000102030405060708090a0b0c0d0e0f";
const GCM_KEY_256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const GCM_SALT: &str = "517569642070726f2071756f";

const RTP_7714: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976
                        69736120 696e2070 61727465 73207472 6573";

/// (name, profile, key, protected packet).
const SRTP_7714: &[(&str, SrtpProfile, &str, &str)] = &[
    (
        "RFC 7714 16.1 AEAD_AES_128_GCM",
        SrtpProfile::AeadAes128Gcm,
        GCM_KEY_128,
        "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a
         51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce",
    ),
    (
        "RFC 7714 16.2 AEAD_AES_256_GCM",
        SrtpProfile::AeadAes256Gcm,
        GCM_KEY_256,
        "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238 9a58e2f3 b50b2a02
         76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13",
    ),
];

fn gcm_ctx(profile: SrtpProfile, key: &str, config: &Config) -> SrtpContext {
    let key = h(key);
    let salt = h(GCM_SALT);
    SrtpContext::from_session_keys(profile, (&key, &[], &salt), (&key, &[], &salt), config).unwrap()
}

/// S-5: RFC 7714 §16.1/§16.2 encryption and §16.1.2/§16.2.2 decryption, and a one-bit tamper.
#[test]
fn s_5_rfc7714_16_srtp_gcm() {
    for (name, profile, key, protected) in SRTP_7714 {
        let plain = h(RTP_7714);
        let protected = h(protected);
        let mut tx = gcm_ctx(*profile, key, &Config::default());
        let mut pkt = plain.clone();
        tx.protect_rtp(&mut pkt).unwrap();
        assert_eq!(hex::encode(&pkt), hex::encode(&protected), "{name} protect");

        let mut rx = gcm_ctx(*profile, key, &Config::default());
        let mut bad = protected.clone();
        bad[20] ^= 0x01;
        assert_eq!(
            rx.unprotect_rtp(&mut bad),
            Err(SrtpError::AuthFailed),
            "{name}"
        );
        let mut pkt = protected.clone();
        rx.unprotect_rtp(&mut pkt).unwrap();
        assert_eq!(pkt, plain, "{name} unprotect");
    }
}

const RTCP_7714: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
                         deadbeef deadbeef deadbeef deadbeef deadbeef";

/// (name, profile, key, E bit, protected packet).
const SRTCP_7714: &[(&str, SrtpProfile, &str, bool, &str)] = &[
    (
        "RFC 7714 17.1 AEAD_AES_128_GCM E=1",
        SrtpProfile::AeadAes128Gcm,
        GCM_KEY_128,
        true,
        "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1 730d6fda
         4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4",
    ),
    (
        "RFC 7714 17.2 AEAD_AES_256_GCM E=1",
        SrtpProfile::AeadAes256Gcm,
        GCM_KEY_256,
        true,
        "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50 a2eaa5c1 110555be
         8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4",
    ),
    (
        "RFC 7714 17.3 AEAD_AES_128_GCM E=0",
        SrtpProfile::AeadAes128Gcm,
        GCM_KEY_128,
        false,
        "81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61
         deadbeefdeadbeefdeadbeefdeadbeefdeadbeef841dd9683dd78ec92ae58790
         125f62b3000005d4",
    ),
    (
        "RFC 7714 17.4 AEAD_AES_256_GCM E=0",
        SrtpProfile::AeadAes256Gcm,
        GCM_KEY_256,
        false,
        "81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61
         deadbeefdeadbeefdeadbeefdeadbeefdeadbeef91db4afbfeee5a978fab4393
         ed2615fe000005d4",
    ),
];

/// S-5: RFC 7714 §17.1–17.4 SRTCP, encrypted (E=1) and authentication-only (E=0), both directions, and
/// a one-bit tamper of each that leaves the packet and the context usable.
#[test]
fn s_5_rfc7714_17_srtcp_gcm_e1_and_e0() {
    for (name, profile, key, encrypt, protected) in SRTCP_7714 {
        let plain = h(RTCP_7714);
        let protected = h(protected);
        let config = Config::default().rtcp_encrypt(*encrypt);
        let mut tx = gcm_ctx(*profile, key, &config);
        tx.set_next_srtcp_index(0x4d61_7273, 0x5d4).unwrap();
        let mut pkt = plain.clone();
        tx.protect_rtcp(&mut pkt).unwrap();
        assert_eq!(hex::encode(&pkt), hex::encode(&protected), "{name} protect");

        let mut rx = gcm_ctx(*profile, key, &Config::default());
        for bit in [0usize, 9 * 8 + 3, (protected.len() - 6) * 8] {
            let mut bad = protected.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let before = bad.clone();
            assert!(rx.unprotect_rtcp(&mut bad).is_err(), "{name} bit {bit}");
            assert_eq!(
                bad, before,
                "{name}: a failed unprotect leaves the buffer as it was"
            );
        }
        let mut pkt = protected.clone();
        rx.unprotect_rtcp(&mut pkt).unwrap();
        assert_eq!(hex::encode(&pkt), hex::encode(&plain), "{name} unprotect");
        let mut again = protected.clone();
        assert_eq!(
            rx.unprotect_rtcp(&mut again),
            Err(SrtpError::ReplayDuplicate),
            "{name}"
        );
    }
}
