//! C ABI (WIP)
