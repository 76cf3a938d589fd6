//! Test support: a minimal safe wrapper over libsrtp 2 (built with its OpenSSL backend by `srtp2-sys`), the
//! reference implementation most peers use. Shared by the interop tests and the benchmark. The FFI `unsafe`
//! of the project's tests lives only here.
#![allow(unsafe_code)]
#![allow(dead_code)]

use std::sync::Once;

use dtlsrtp_srtp::SrtpProfile;
use srtp2_sys as sys;

/// Room libsrtp may write after the packet (`SRTP_MAX_TRAILER_LEN + 4`, see `srtp_protect_rtcp`).
pub(crate) const LIBSRTP_TAIL_ROOM: usize = sys::SRTP_MAX_TRAILER_LEN as usize + 4;

static INIT: Once = Once::new();

/// One libsrtp session (`srtp_t`) for one direction, any SSRC.
pub(crate) struct LibSrtp {
    ctx: sys::srtp_t,
}

/// A libsrtp error status (`srtp_err_status_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LibSrtpError(pub(crate) u32);

fn check(status: sys::srtp_err_status_t) -> Result<(), LibSrtpError> {
    if status == sys::srtp_err_status_t_srtp_err_status_ok {
        Ok(())
    } else {
        Err(LibSrtpError(status))
    }
}

fn set_policy(
    profile: SrtpProfile,
    rtp: &mut sys::srtp_crypto_policy_t,
    rtcp: &mut sys::srtp_crypto_policy_t,
) {
    // SAFETY: the setters only write the fields of the crypto policy structs they are given, which are valid,
    // exclusively borrowed `srtp_crypto_policy_t`s.
    unsafe {
        match profile {
            SrtpProfile::Aes128CmHmacSha1_80 => {
                sys::srtp_crypto_policy_set_rtp_default(rtp);
                sys::srtp_crypto_policy_set_rtcp_default(rtcp);
            }
            SrtpProfile::Aes128CmHmacSha1_32 => {
                sys::srtp_crypto_policy_set_aes_cm_128_hmac_sha1_32(rtp);
                sys::srtp_crypto_policy_set_rtcp_default(rtcp);
            }
            // libsrtp 2.3 sets cipher_key_len = 0 for the NULL cipher and then derives the HMAC keys from an
            // all-zero master key; the 16+14 master the NULL profiles use (requirements.md §2.1, libsrtp 2.4+
            // and pion) needs the 30-octet key length set explicitly.
            SrtpProfile::NullHmacSha1_80 => {
                sys::srtp_crypto_policy_set_null_cipher_hmac_sha1_80(rtp);
                sys::srtp_crypto_policy_set_null_cipher_hmac_sha1_80(rtcp);
                rtp.cipher_key_len = 30;
                rtcp.cipher_key_len = 30;
            }
            SrtpProfile::NullHmacSha1_32 => {
                sys::srtp_crypto_policy_set_null_cipher_hmac_sha1_80(rtp);
                rtp.auth_tag_len = 4;
                sys::srtp_crypto_policy_set_null_cipher_hmac_sha1_80(rtcp);
                rtp.cipher_key_len = 30;
                rtcp.cipher_key_len = 30;
            }
            SrtpProfile::AeadAes128Gcm => {
                sys::srtp_crypto_policy_set_aes_gcm_128_16_auth(rtp);
                sys::srtp_crypto_policy_set_aes_gcm_128_16_auth(rtcp);
            }
            SrtpProfile::AeadAes256Gcm => {
                sys::srtp_crypto_policy_set_aes_gcm_256_16_auth(rtp);
                sys::srtp_crypto_policy_set_aes_gcm_256_16_auth(rtcp);
            }
            other => panic!("no libsrtp policy for {other}"),
        }
    }
}

impl LibSrtp {
    /// A session protecting (`outbound`) or unprotecting any SSRC with the master key and salt of one
    /// direction; `window` is the replay window (0: libsrtp's default of 128).
    pub(crate) fn new(
        profile: SrtpProfile,
        key: &[u8],
        salt: &[u8],
        outbound: bool,
        window: u64,
    ) -> Self {
        INIT.call_once(|| {
            // SAFETY: srtp_init has no preconditions; Once runs it a single time per process.
            let status = unsafe { sys::srtp_init() };
            assert_eq!(status, 0, "srtp_init");
        });
        let mut master = Vec::with_capacity(key.len() + salt.len());
        master.extend_from_slice(key);
        master.extend_from_slice(salt);
        // SAFETY: srtp_policy_t is a plain C struct of integers and pointers, for which all-zero is the
        // documented "unset" value (null pointers, zero counts).
        let mut policy: sys::srtp_policy_t = unsafe { std::mem::zeroed() };
        set_policy(profile, &mut policy.rtp, &mut policy.rtcp);
        policy.ssrc.type_ = if outbound {
            sys::srtp_ssrc_type_t_ssrc_any_outbound
        } else {
            sys::srtp_ssrc_type_t_ssrc_any_inbound
        };
        policy.key = master.as_mut_ptr();
        policy.window_size = window as _;
        policy.allow_repeat_tx = 0;
        let mut ctx: sys::srtp_t = std::ptr::null_mut();
        // SAFETY: `policy` is fully initialised and points at `master`, which outlives the call (libsrtp copies
        // the key material into the new session); `ctx` is a valid out-pointer.
        let status = unsafe { sys::srtp_create(&mut ctx, &policy) };
        assert_eq!(status, 0, "srtp_create for {profile}");
        assert!(!ctx.is_null());
        Self { ctx }
    }

    fn call(
        &mut self,
        f: unsafe extern "C" fn(
            sys::srtp_t,
            *mut std::os::raw::c_void,
            *mut std::os::raw::c_int,
        ) -> sys::srtp_err_status_t,
        buf: &mut [u8],
        len: usize,
        grows: bool,
    ) -> Result<usize, LibSrtpError> {
        if len > buf.len() || (grows && buf.len() - len < LIBSRTP_TAIL_ROOM) {
            return Err(LibSrtpError(u32::MAX));
        }
        let mut n = len as std::os::raw::c_int;
        // SAFETY: `self.ctx` is a live session from srtp_create; `buf` is valid for writes of `buf.len()`
        // octets, which covers `len` plus the tail room libsrtp may write when protecting (checked above);
        // unprotect only shrinks. libsrtp does not keep the pointer after the call.
        let status = unsafe { f(self.ctx, buf.as_mut_ptr().cast(), &mut n) };
        check(status)?;
        usize::try_from(n).map_err(|_| LibSrtpError(u32::MAX))
    }

    /// `srtp_protect` on `buf[..len]`; `buf` needs [`LIBSRTP_TAIL_ROOM`] octets after `len`.
    pub(crate) fn protect_in(&mut self, buf: &mut [u8], len: usize) -> Result<usize, LibSrtpError> {
        self.call(sys::srtp_protect, buf, len, true)
    }

    /// `srtp_unprotect` on `buf[..len]`.
    pub(crate) fn unprotect_in(
        &mut self,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, LibSrtpError> {
        self.call(sys::srtp_unprotect, buf, len, false)
    }

    /// `srtp_protect_rtcp` on `buf[..len]`; `buf` needs [`LIBSRTP_TAIL_ROOM`] octets after `len`.
    pub(crate) fn protect_rtcp_in(
        &mut self,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, LibSrtpError> {
        self.call(sys::srtp_protect_rtcp, buf, len, true)
    }

    /// `srtp_unprotect_rtcp` on `buf[..len]`.
    pub(crate) fn unprotect_rtcp_in(
        &mut self,
        buf: &mut [u8],
        len: usize,
    ) -> Result<usize, LibSrtpError> {
        self.call(sys::srtp_unprotect_rtcp, buf, len, false)
    }

    /// Vec convenience for [`protect_in`](Self::protect_in).
    pub(crate) fn protect(&mut self, pkt: &mut Vec<u8>) -> Result<(), LibSrtpError> {
        self.vec_call(pkt, Self::protect_in)
    }
    /// Vec convenience for [`unprotect_in`](Self::unprotect_in).
    pub(crate) fn unprotect(&mut self, pkt: &mut Vec<u8>) -> Result<(), LibSrtpError> {
        self.vec_call(pkt, Self::unprotect_in)
    }
    /// Vec convenience for [`protect_rtcp_in`](Self::protect_rtcp_in).
    pub(crate) fn protect_rtcp(&mut self, pkt: &mut Vec<u8>) -> Result<(), LibSrtpError> {
        self.vec_call(pkt, Self::protect_rtcp_in)
    }
    /// Vec convenience for [`unprotect_rtcp_in`](Self::unprotect_rtcp_in).
    pub(crate) fn unprotect_rtcp(&mut self, pkt: &mut Vec<u8>) -> Result<(), LibSrtpError> {
        self.vec_call(pkt, Self::unprotect_rtcp_in)
    }

    fn vec_call(
        &mut self,
        pkt: &mut Vec<u8>,
        f: fn(&mut Self, &mut [u8], usize) -> Result<usize, LibSrtpError>,
    ) -> Result<(), LibSrtpError> {
        let len = pkt.len();
        pkt.resize(len + LIBSRTP_TAIL_ROOM, 0);
        match f(self, pkt, len) {
            Ok(n) => {
                pkt.truncate(n);
                Ok(())
            }
            Err(e) => {
                pkt.truncate(len);
                Err(e)
            }
        }
    }
}

impl Drop for LibSrtp {
    fn drop(&mut self) {
        // SAFETY: `self.ctx` came from srtp_create and is deallocated exactly once, here.
        unsafe {
            sys::srtp_dealloc(self.ctx);
        }
    }
}
