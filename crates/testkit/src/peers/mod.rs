//! Real peers on 127.0.0.1, stopped by PID.
