//! MD5 (RFC 1321) and HMAC-MD5 (RFC 2104), written for speed: the MD5 pass before an upload
//! reads the whole file, and should cost no more than OpenSSL's assembly does.
//!
//! Whole blocks are compressed straight from the caller's slice (only a partial block is
//! copied), by fully unrolled rounds. What bounds the speed is the chain of dependent
//! instructions through `b`, the newest state word, in each of the 64 steps
//! `a = b + rol(a + K + X + f(b, c, d), s)`: everything that does not need `b` is done first
//! (the CPU overlaps it with the steps before), and the round functions are written so that
//! the chain is as short as it can be:
//!
//! - F: `d ^ (b & (c ^ d))`, `c ^ d` ready before `b` (two operations after `b`);
//! - G: `(b & d) + (c & !d)`: the halves have no bit in common, so the OR is an addition and
//!   `c & !d` goes into `a` before `b` is known (one operation after `b`, where OpenSSL has two);
//! - H: `b ^ (c ^ d)` (one);
//! - I: `c ^ (b | !d)`, `!d` ready before `b` (two).
//!
//! On x86_64 the rounds are one `asm!` block, so that this schedule does not depend on the
//! compiler; elsewhere they are the same steps in Rust (`soft`), which the tests also compare
//! with the assembly on x86_64.

/// The MD5 state after the initial value (RFC 1321 3.3).
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// Bytes in one block.
pub(crate) const BLOCK: usize = 64;

/// An incremental MD5 hash.
pub(crate) struct Md5 {
    state: [u32; 4],
    /// Bytes hashed so far (the padding encodes it modulo 2^64 bits).
    len: u64,
    /// The partial block not yet compressed: `buf[..buf_len]`.
    buf: [u8; BLOCK],
    buf_len: usize,
}

impl Md5 {
    pub(crate) fn new() -> Self {
        Self {
            state: INIT,
            len: 0,
            buf: [0; BLOCK],
            buf_len: 0,
        }
    }

    pub(crate) fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if self.buf_len > 0 {
            let take = (BLOCK - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < BLOCK {
                return;
            }
            compress(&mut self.state, &self.buf);
            self.buf_len = 0;
        }
        let whole = data.len() - data.len() % BLOCK;
        compress(&mut self.state, &data[..whole]);
        let rest = &data[whole..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    pub(crate) fn finalize(mut self) -> [u8; 16] {
        let bits = self.len.wrapping_mul(8);
        // 0x80, zeros up to 56 mod 64, then the length in bits, little-endian.
        let mut pad = [0u8; 2 * BLOCK];
        pad[0] = 0x80;
        let pad_len = if self.buf_len < 56 {
            56 - self.buf_len
        } else {
            120 - self.buf_len
        };
        pad[pad_len..pad_len + 8].copy_from_slice(&bits.to_le_bytes());
        self.update(&pad[..pad_len + 8]);
        debug_assert_eq!(self.buf_len, 0);
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// MD5 of `data` in one call.
    #[cfg(test)]
    pub(crate) fn digest(data: &[u8]) -> [u8; 16] {
        let mut m = Self::new();
        m.update(data);
        m.finalize()
    }
}

/// HMAC-MD5 (RFC 2104) of the concatenation of `parts` under `key`.
pub(crate) fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        let mut m = Md5::new();
        m.update(key);
        k[..16].copy_from_slice(&m.finalize());
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut ipad = [0x36u8; BLOCK];
    let mut opad = [0x5cu8; BLOCK];
    for ((i, o), k) in ipad.iter_mut().zip(opad.iter_mut()).zip(k) {
        *i ^= k;
        *o ^= k;
    }
    let mut inner = Md5::new();
    inner.update(&ipad);
    for p in parts {
        inner.update(p);
    }
    let mut outer = Md5::new();
    outer.update(&opad);
    outer.update(&inner.finalize());
    outer.finalize()
}

/// Compress every whole block of `blocks` (its length is a multiple of [`BLOCK`]).
fn compress(state: &mut [u32; 4], blocks: &[u8]) {
    debug_assert_eq!(blocks.len() % BLOCK, 0);
    #[cfg(target_arch = "x86_64")]
    x86_64::compress(state, blocks);
    #[cfg(not(target_arch = "x86_64"))]
    soft::compress(state, blocks);
}

/// The rounds in Rust, for every target but x86_64.
#[cfg(any(test, not(target_arch = "x86_64")))]
mod soft {
    use super::BLOCK;

    macro_rules! step {
        (F, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
            $a = $a
                .wrapping_add($m)
                .wrapping_add($k)
                .wrapping_add((($c ^ $d) & $b) ^ $d)
                .rotate_left($s)
                .wrapping_add($b);
        };
        (G, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
            $a = $a
                .wrapping_add($m)
                .wrapping_add($k)
                .wrapping_add($c & !$d)
                .wrapping_add($b & $d)
                .rotate_left($s)
                .wrapping_add($b);
        };
        (H, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
            $a = $a
                .wrapping_add($m)
                .wrapping_add($k)
                .wrapping_add(($c ^ $d) ^ $b)
                .rotate_left($s)
                .wrapping_add($b);
        };
        (I, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
            $a = $a
                .wrapping_add($m)
                .wrapping_add($k)
                .wrapping_add((!$d | $b) ^ $c)
                .rotate_left($s)
                .wrapping_add($b);
        };
    }

    /// The sine constants of RFC 1321 3.4, `T[i] = floor(2^32 * abs(sin(i + 1)))`.
    #[rustfmt::skip]
    const K: [u32; 64] = [
        0xd76a_a478, 0xe8c7_b756, 0x2420_70db, 0xc1bd_ceee,
        0xf57c_0faf, 0x4787_c62a, 0xa830_4613, 0xfd46_9501,
        0x6980_98d8, 0x8b44_f7af, 0xffff_5bb1, 0x895c_d7be,
        0x6b90_1122, 0xfd98_7193, 0xa679_438e, 0x49b4_0821,
        0xf61e_2562, 0xc040_b340, 0x265e_5a51, 0xe9b6_c7aa,
        0xd62f_105d, 0x0244_1453, 0xd8a1_e681, 0xe7d3_fbc8,
        0x21e1_cde6, 0xc337_07d6, 0xf4d5_0d87, 0x455a_14ed,
        0xa9e3_e905, 0xfcef_a3f8, 0x676f_02d9, 0x8d2a_4c8a,
        0xfffa_3942, 0x8771_f681, 0x6d9d_6122, 0xfde5_380c,
        0xa4be_ea44, 0x4bde_cfa9, 0xf6bb_4b60, 0xbebf_bc70,
        0x289b_7ec6, 0xeaa1_27fa, 0xd4ef_3085, 0x0488_1d05,
        0xd9d4_d039, 0xe6db_99e5, 0x1fa2_7cf8, 0xc4ac_5665,
        0xf429_2244, 0x432a_ff97, 0xab94_23a7, 0xfc93_a039,
        0x655b_59c3, 0x8f0c_cc92, 0xffef_f47d, 0x8584_5dd1,
        0x6fa8_7e4f, 0xfe2c_e6e0, 0xa301_4314, 0x4e08_11a1,
        0xf753_7e82, 0xbd3a_f235, 0x2ad7_d2bb, 0xeb86_d391,
    ];

    pub(super) fn compress(state: &mut [u32; 4], blocks: &[u8]) {
        // The constants are read from the table through an opaque reference rather than
        // written as immediates: LLVM moves the addition of a constant to the end of a sum,
        // which would put it on the chain through `b`, after `f`; loaded values stay where
        // they are, so `a + K + X` is done before `b` is known (15 % faster on x86_64).
        let k = core::hint::black_box(&K);
        let [mut a, mut b, mut c, mut d] = *state;
        for block in blocks.chunks_exact(BLOCK) {
            let block: &[u8; BLOCK] = block.try_into().expect("a whole block");
            let mut x = [0u32; 16];
            for (w, bytes) in x.iter_mut().zip(block.chunks_exact(4)) {
                *w = u32::from_le_bytes(bytes.try_into().expect("four bytes"));
            }
            let (a0, b0, c0, d0) = (a, b, c, d);

            step!(F, a, b, c, d, x[0], k[0], 7);
            step!(F, d, a, b, c, x[1], k[1], 12);
            step!(F, c, d, a, b, x[2], k[2], 17);
            step!(F, b, c, d, a, x[3], k[3], 22);
            step!(F, a, b, c, d, x[4], k[4], 7);
            step!(F, d, a, b, c, x[5], k[5], 12);
            step!(F, c, d, a, b, x[6], k[6], 17);
            step!(F, b, c, d, a, x[7], k[7], 22);
            step!(F, a, b, c, d, x[8], k[8], 7);
            step!(F, d, a, b, c, x[9], k[9], 12);
            step!(F, c, d, a, b, x[10], k[10], 17);
            step!(F, b, c, d, a, x[11], k[11], 22);
            step!(F, a, b, c, d, x[12], k[12], 7);
            step!(F, d, a, b, c, x[13], k[13], 12);
            step!(F, c, d, a, b, x[14], k[14], 17);
            step!(F, b, c, d, a, x[15], k[15], 22);

            step!(G, a, b, c, d, x[1], k[16], 5);
            step!(G, d, a, b, c, x[6], k[17], 9);
            step!(G, c, d, a, b, x[11], k[18], 14);
            step!(G, b, c, d, a, x[0], k[19], 20);
            step!(G, a, b, c, d, x[5], k[20], 5);
            step!(G, d, a, b, c, x[10], k[21], 9);
            step!(G, c, d, a, b, x[15], k[22], 14);
            step!(G, b, c, d, a, x[4], k[23], 20);
            step!(G, a, b, c, d, x[9], k[24], 5);
            step!(G, d, a, b, c, x[14], k[25], 9);
            step!(G, c, d, a, b, x[3], k[26], 14);
            step!(G, b, c, d, a, x[8], k[27], 20);
            step!(G, a, b, c, d, x[13], k[28], 5);
            step!(G, d, a, b, c, x[2], k[29], 9);
            step!(G, c, d, a, b, x[7], k[30], 14);
            step!(G, b, c, d, a, x[12], k[31], 20);

            step!(H, a, b, c, d, x[5], k[32], 4);
            step!(H, d, a, b, c, x[8], k[33], 11);
            step!(H, c, d, a, b, x[11], k[34], 16);
            step!(H, b, c, d, a, x[14], k[35], 23);
            step!(H, a, b, c, d, x[1], k[36], 4);
            step!(H, d, a, b, c, x[4], k[37], 11);
            step!(H, c, d, a, b, x[7], k[38], 16);
            step!(H, b, c, d, a, x[10], k[39], 23);
            step!(H, a, b, c, d, x[13], k[40], 4);
            step!(H, d, a, b, c, x[0], k[41], 11);
            step!(H, c, d, a, b, x[3], k[42], 16);
            step!(H, b, c, d, a, x[6], k[43], 23);
            step!(H, a, b, c, d, x[9], k[44], 4);
            step!(H, d, a, b, c, x[12], k[45], 11);
            step!(H, c, d, a, b, x[15], k[46], 16);
            step!(H, b, c, d, a, x[2], k[47], 23);

            step!(I, a, b, c, d, x[0], k[48], 6);
            step!(I, d, a, b, c, x[7], k[49], 10);
            step!(I, c, d, a, b, x[14], k[50], 15);
            step!(I, b, c, d, a, x[5], k[51], 21);
            step!(I, a, b, c, d, x[12], k[52], 6);
            step!(I, d, a, b, c, x[3], k[53], 10);
            step!(I, c, d, a, b, x[10], k[54], 15);
            step!(I, b, c, d, a, x[1], k[55], 21);
            step!(I, a, b, c, d, x[8], k[56], 6);
            step!(I, d, a, b, c, x[15], k[57], 10);
            step!(I, c, d, a, b, x[6], k[58], 15);
            step!(I, b, c, d, a, x[13], k[59], 21);
            step!(I, a, b, c, d, x[4], k[60], 6);
            step!(I, d, a, b, c, x[11], k[61], 10);
            step!(I, c, d, a, b, x[2], k[62], 15);
            step!(I, b, c, d, a, x[9], k[63], 21);

            a = a.wrapping_add(a0);
            b = b.wrapping_add(b0);
            c = c.wrapping_add(c0);
            d = d.wrapping_add(d0);
        }
        *state = [a, b, c, d];
    }
}

/// The rounds as one `asm!` block on x86_64: the steps of `soft`, with the message words read
/// from the block as memory operands and the constants as immediates. Nine instructions a
/// step on average, of which four or five are on the chain through `b`.
#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use super::BLOCK;

    // One step each: `a = b + rol(a + K + X[x] + f(b, c, d), s)`, what does not need `b`
    // first. The first four arguments name the operands that hold the state words, in the
    // order of the step; `t` and `u` are scratch, `p` points at the block.
    #[rustfmt::skip]
    macro_rules! f {
        ($a:literal, $b:literal, $c:literal, $d:literal, $x:literal, $k:literal, $s:literal) => {
            concat!(
                "mov {t:e}, {", $c, ":e}\n",
                "add {", $a, ":e}, ", $k, "\n",
                "xor {t:e}, {", $d, ":e}\n",
                "add {", $a, ":e}, dword ptr [{p} + 4*", $x, "]\n",
                "and {t:e}, {", $b, ":e}\n",
                "xor {t:e}, {", $d, ":e}\n",
                "add {", $a, ":e}, {t:e}\n",
                "rol {", $a, ":e}, ", $s, "\n",
                "add {", $a, ":e}, {", $b, ":e}\n",
            )
        };
    }

    // G: (b & d) + (c & !d), the second half added before b is known.
    #[rustfmt::skip]
    macro_rules! g {
        ($a:literal, $b:literal, $c:literal, $d:literal, $x:literal, $k:literal, $s:literal) => {
            concat!(
                "mov {t:e}, {", $d, ":e}\n",
                "add {", $a, ":e}, ", $k, "\n",
                "not {t:e}\n",
                "add {", $a, ":e}, dword ptr [{p} + 4*", $x, "]\n",
                "and {t:e}, {", $c, ":e}\n",
                "mov {u:e}, {", $d, ":e}\n",
                "add {", $a, ":e}, {t:e}\n",
                "and {u:e}, {", $b, ":e}\n",
                "add {", $a, ":e}, {u:e}\n",
                "rol {", $a, ":e}, ", $s, "\n",
                "add {", $a, ":e}, {", $b, ":e}\n",
            )
        };
    }

    #[rustfmt::skip]
    macro_rules! h {
        ($a:literal, $b:literal, $c:literal, $d:literal, $x:literal, $k:literal, $s:literal) => {
            concat!(
                "mov {t:e}, {", $c, ":e}\n",
                "add {", $a, ":e}, ", $k, "\n",
                "xor {t:e}, {", $d, ":e}\n",
                "add {", $a, ":e}, dword ptr [{p} + 4*", $x, "]\n",
                "xor {t:e}, {", $b, ":e}\n",
                "add {", $a, ":e}, {t:e}\n",
                "rol {", $a, ":e}, ", $s, "\n",
                "add {", $a, ":e}, {", $b, ":e}\n",
            )
        };
    }

    // I: c ^ (b | !d), with !d before b is known.
    #[rustfmt::skip]
    macro_rules! i {
        ($a:literal, $b:literal, $c:literal, $d:literal, $x:literal, $k:literal, $s:literal) => {
            concat!(
                "mov {t:e}, {", $d, ":e}\n",
                "add {", $a, ":e}, ", $k, "\n",
                "not {t:e}\n",
                "add {", $a, ":e}, dword ptr [{p} + 4*", $x, "]\n",
                "or {t:e}, {", $b, ":e}\n",
                "xor {t:e}, {", $c, ":e}\n",
                "add {", $a, ":e}, {t:e}\n",
                "rol {", $a, ":e}, ", $s, "\n",
                "add {", $a, ":e}, {", $b, ":e}\n",
            )
        };
    }

    pub(super) fn compress(state: &mut [u32; 4], blocks: &[u8]) {
        let n = blocks.len() / BLOCK;
        if n == 0 {
            return;
        }
        let [mut a, mut b, mut c, mut d] = *state;
        // SAFETY: the block reads the `n * BLOCK` bytes of `blocks` and nothing else (it
        // stops when `p` reaches `end`, one past the last block), writes only the registers
        // named as outputs, and uses no stack.
        unsafe {
            core::arch::asm!(
                "2:",
                "mov {a0:e}, {a:e}",
                "mov {b0:e}, {b:e}",
                "mov {c0:e}, {c:e}",
                "mov {d0:e}, {d:e}",
                f!("a", "b", "c", "d", 0, 0xd76a_a478, 7),
                f!("d", "a", "b", "c", 1, 0xe8c7_b756, 12),
                f!("c", "d", "a", "b", 2, 0x2420_70db, 17),
                f!("b", "c", "d", "a", 3, 0xc1bd_ceee, 22),
                f!("a", "b", "c", "d", 4, 0xf57c_0faf, 7),
                f!("d", "a", "b", "c", 5, 0x4787_c62a, 12),
                f!("c", "d", "a", "b", 6, 0xa830_4613, 17),
                f!("b", "c", "d", "a", 7, 0xfd46_9501, 22),
                f!("a", "b", "c", "d", 8, 0x6980_98d8, 7),
                f!("d", "a", "b", "c", 9, 0x8b44_f7af, 12),
                f!("c", "d", "a", "b", 10, 0xffff_5bb1, 17),
                f!("b", "c", "d", "a", 11, 0x895c_d7be, 22),
                f!("a", "b", "c", "d", 12, 0x6b90_1122, 7),
                f!("d", "a", "b", "c", 13, 0xfd98_7193, 12),
                f!("c", "d", "a", "b", 14, 0xa679_438e, 17),
                f!("b", "c", "d", "a", 15, 0x49b4_0821, 22),
                g!("a", "b", "c", "d", 1, 0xf61e_2562, 5),
                g!("d", "a", "b", "c", 6, 0xc040_b340, 9),
                g!("c", "d", "a", "b", 11, 0x265e_5a51, 14),
                g!("b", "c", "d", "a", 0, 0xe9b6_c7aa, 20),
                g!("a", "b", "c", "d", 5, 0xd62f_105d, 5),
                g!("d", "a", "b", "c", 10, 0x0244_1453, 9),
                g!("c", "d", "a", "b", 15, 0xd8a1_e681, 14),
                g!("b", "c", "d", "a", 4, 0xe7d3_fbc8, 20),
                g!("a", "b", "c", "d", 9, 0x21e1_cde6, 5),
                g!("d", "a", "b", "c", 14, 0xc337_07d6, 9),
                g!("c", "d", "a", "b", 3, 0xf4d5_0d87, 14),
                g!("b", "c", "d", "a", 8, 0x455a_14ed, 20),
                g!("a", "b", "c", "d", 13, 0xa9e3_e905, 5),
                g!("d", "a", "b", "c", 2, 0xfcef_a3f8, 9),
                g!("c", "d", "a", "b", 7, 0x676f_02d9, 14),
                g!("b", "c", "d", "a", 12, 0x8d2a_4c8a, 20),
                h!("a", "b", "c", "d", 5, 0xfffa_3942, 4),
                h!("d", "a", "b", "c", 8, 0x8771_f681, 11),
                h!("c", "d", "a", "b", 11, 0x6d9d_6122, 16),
                h!("b", "c", "d", "a", 14, 0xfde5_380c, 23),
                h!("a", "b", "c", "d", 1, 0xa4be_ea44, 4),
                h!("d", "a", "b", "c", 4, 0x4bde_cfa9, 11),
                h!("c", "d", "a", "b", 7, 0xf6bb_4b60, 16),
                h!("b", "c", "d", "a", 10, 0xbebf_bc70, 23),
                h!("a", "b", "c", "d", 13, 0x289b_7ec6, 4),
                h!("d", "a", "b", "c", 0, 0xeaa1_27fa, 11),
                h!("c", "d", "a", "b", 3, 0xd4ef_3085, 16),
                h!("b", "c", "d", "a", 6, 0x0488_1d05, 23),
                h!("a", "b", "c", "d", 9, 0xd9d4_d039, 4),
                h!("d", "a", "b", "c", 12, 0xe6db_99e5, 11),
                h!("c", "d", "a", "b", 15, 0x1fa2_7cf8, 16),
                h!("b", "c", "d", "a", 2, 0xc4ac_5665, 23),
                i!("a", "b", "c", "d", 0, 0xf429_2244, 6),
                i!("d", "a", "b", "c", 7, 0x432a_ff97, 10),
                i!("c", "d", "a", "b", 14, 0xab94_23a7, 15),
                i!("b", "c", "d", "a", 5, 0xfc93_a039, 21),
                i!("a", "b", "c", "d", 12, 0x655b_59c3, 6),
                i!("d", "a", "b", "c", 3, 0x8f0c_cc92, 10),
                i!("c", "d", "a", "b", 10, 0xffef_f47d, 15),
                i!("b", "c", "d", "a", 1, 0x8584_5dd1, 21),
                i!("a", "b", "c", "d", 8, 0x6fa8_7e4f, 6),
                i!("d", "a", "b", "c", 15, 0xfe2c_e6e0, 10),
                i!("c", "d", "a", "b", 6, 0xa301_4314, 15),
                i!("b", "c", "d", "a", 13, 0x4e08_11a1, 21),
                i!("a", "b", "c", "d", 4, 0xf753_7e82, 6),
                i!("d", "a", "b", "c", 11, 0xbd3a_f235, 10),
                i!("c", "d", "a", "b", 2, 0x2ad7_d2bb, 15),
                i!("b", "c", "d", "a", 9, 0xeb86_d391, 21),
                "add {a:e}, {a0:e}",
                "add {b:e}, {b0:e}",
                "add {c:e}, {c0:e}",
                "add {d:e}, {d0:e}",
                "add {p}, 64",
                "cmp {p}, {end}",
                "jne 2b",
                a = inout(reg) a,
                b = inout(reg) b,
                c = inout(reg) c,
                d = inout(reg) d,
                a0 = out(reg) _,
                b0 = out(reg) _,
                c0 = out(reg) _,
                d0 = out(reg) _,
                t = out(reg) _,
                u = out(reg) _,
                p = inout(reg) blocks.as_ptr() => _,
                end = in(reg) blocks.as_ptr().wrapping_add(n * BLOCK),
                options(pure, readonly, nostack),
            );
        }
        *state = [a, b, c, d];
    }
}

#[cfg(test)]
mod tests {
    use super::{hmac_md5, Md5, BLOCK};
    use crate::sign::hex;

    /// xorshift64: reproducible inputs without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    /// Our MD5 of `data`, fed in chunks of random sizes up to `max_chunk`.
    fn chunked(data: &[u8], rng: &mut Rng, max_chunk: usize) -> [u8; 16] {
        let mut m = Md5::new();
        let mut rest = data;
        while !rest.is_empty() {
            let n = rng.below(max_chunk + 1).min(rest.len());
            m.update(&rest[..n]);
            rest = &rest[n..];
        }
        m.finalize()
    }

    fn reference(data: &[u8]) -> [u8; 16] {
        use ::md5::Digest;
        ::md5::Md5::digest(data).into()
    }

    #[test]
    fn rfc1321_vectors() {
        let vectors: [(&str, &str); 7] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in vectors {
            assert_eq!(hex(&Md5::digest(input.as_bytes())), want, "MD5({input:?})");
            // The same fed a byte at a time.
            let mut m = Md5::new();
            for b in input.as_bytes() {
                m.update(core::slice::from_ref(b));
            }
            assert_eq!(hex(&m.finalize()), want, "MD5({input:?}) byte by byte");
        }
    }

    #[test]
    fn rfc2202_hmac_vectors() {
        let long_key = [0xaa; 80];
        let key4: Vec<u8> = (1..=25).collect();
        let vectors: [(&[u8], &[u8], &str); 7] = [
            (&[0x0b; 16], b"Hi There", "9294727a3638bb1c13f48ef8158bfc9d"),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "750c783e6ab0b503eaa86e310a5db738",
            ),
            (&[0xaa; 16], &[0xdd; 50], "56be34521d144c88dbb8c733f0e8b3f6"),
            (&key4, &[0xcd; 50], "697eaf0aca3a3aea3a75164746ffaa79"),
            (
                &[0x0c; 16],
                b"Test With Truncation",
                "56461ef2342edc00f9bab995690efd4c",
            ),
            (
                &long_key,
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd",
            ),
            (
                &long_key,
                b"Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data",
                "6f630fad67cda0ee1fb1f562db3aa53e",
            ),
        ];
        for (i, (key, data, want)) in vectors.into_iter().enumerate() {
            assert_eq!(
                hex(&hmac_md5(key, &[data])),
                want,
                "RFC 2202 case {}",
                i + 1
            );
            let (head, tail) = data.split_at(data.len() / 3);
            assert_eq!(
                hex(&hmac_md5(key, &[head, tail])),
                want,
                "case {} in two parts",
                i + 1
            );
        }
    }

    #[test]
    fn every_length_around_the_padding() {
        // Every length up to three blocks: the 0x80 byte and the length field in the same
        // block or the next, at every offset.
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let data = rng.bytes(3 * BLOCK + 1);
        for len in 0..=data.len() {
            let want = reference(&data[..len]);
            assert_eq!(Md5::digest(&data[..len]), want, "length {len}");
            assert_eq!(
                chunked(&data[..len], &mut rng, 70),
                want,
                "length {len}, chunked"
            );
        }
    }

    #[test]
    fn random_inputs_in_random_chunks() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for case in 0..300 {
            let len = rng.below(10_001);
            let data = rng.bytes(len);
            let max_chunk = [1, 63, 64, 65, 200, 4096, 20_000][case % 7];
            assert_eq!(
                chunked(&data, &mut rng, max_chunk),
                reference(&data),
                "case {case}: {len} bytes in chunks of up to {max_chunk}"
            );
        }
    }

    #[test]
    fn a_few_mebibytes() {
        let mut rng = Rng(0xdead_beef_cafe_f00d);
        for len in [(1 << 20) + 17, 3 << 20, (4 << 20) - 1] {
            let data = rng.bytes(len);
            let want = reference(&data);
            assert_eq!(Md5::digest(&data), want, "{len} bytes in one update");
            assert_eq!(
                chunked(&data, &mut rng, 100_000),
                want,
                "{len} bytes chunked"
            );
        }
    }

    #[test]
    fn hmac_matches_the_hmac_crate() {
        use hmac::{KeyInit, Mac};
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        // Keys around the block size (hashed when longer than 64 bytes), data of any length.
        for case in 0..200 {
            let key_len = if case < 140 { case } else { rng.below(1000) };
            let key = rng.bytes(key_len);
            let data_len = rng.below(300);
            let data = rng.bytes(data_len);
            let cut = rng.below(data.len() + 1);
            let mut mac = <hmac::Hmac<::md5::Md5> as KeyInit>::new_from_slice(&key).unwrap();
            mac.update(&data);
            let want: [u8; 16] = mac.finalize().into_bytes().into();
            let (head, tail) = data.split_at(cut);
            assert_eq!(
                hmac_md5(&key, &[head, tail]),
                want,
                "key of {} bytes",
                key.len()
            );
        }
    }

    #[test]
    fn the_length_field_past_four_gibibits() {
        // 513 MiB + 3 bytes: the length in bits no longer fits in 32 bits. Fast only where
        // the rounds are assembly (unit tests are not optimised).
        if cfg!(not(target_arch = "x86_64")) {
            return;
        }
        let zeros = vec![0u8; 1 << 20];
        let mut m = Md5::new();
        for _ in 0..513 {
            m.update(&zeros);
        }
        m.update(b"abc");
        assert_eq!(hex(&m.finalize()), "381d57fb7968bca912435009700abdc8");
    }

    /// Not a test: one measurement of tests/bench/md5.sh by `$IOTHTTP_MD5_BENCH_IMPL`:
    /// - `iothttp`: the MD5 of the file `$IOTHTTP_MD5_BENCH_FILE` as an upload computes it
    ///   (`Source::digests`); `md-5`: the same 64 KiB reads into the md-5 crate;
    /// - `iothttp-memory`, `md-5-memory`: 1 GiB from memory (a 64 MiB buffer 16 times) in
    ///   64 KiB updates, no reads.
    ///
    /// Prints `md5-bench <impl> <hex digest> <seconds of hashing>`.
    #[test]
    #[ignore = "a benchmark, run by tests/bench/md5.sh"]
    fn bench() {
        use ::md5::Digest;
        use std::io::Read;
        use std::time::Instant;
        let which = std::env::var("IOTHTTP_MD5_BENCH_IMPL").unwrap_or_default();
        let path = || std::env::var("IOTHTTP_MD5_BENCH_FILE").expect("IOTHTTP_MD5_BENCH_FILE");
        let buffer = || Rng(0x5851_f42d_4c95_7f2d).bytes(64 << 20);
        const CHUNK: usize = 64 * 1024;
        let (digest, secs): ([u8; 16], f64) = match which.as_str() {
            "iothttp" => {
                let start = Instant::now();
                let mut src = crate::transfer::source::Source::from_file(path()).unwrap();
                let d = src.digests(true, false).unwrap().md5.unwrap();
                (d, start.elapsed().as_secs_f64())
            }
            "md-5" => {
                let start = Instant::now();
                let mut file = std::fs::File::open(path()).unwrap();
                let mut buf = vec![0u8; CHUNK];
                let mut m = ::md5::Md5::new();
                loop {
                    let n = file.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    m.update(&buf[..n]);
                }
                (m.finalize().into(), start.elapsed().as_secs_f64())
            }
            "iothttp-memory" => {
                let data = buffer();
                let start = Instant::now();
                let mut m = Md5::new();
                for _ in 0..16 {
                    data.chunks(CHUNK).for_each(|c| m.update(c));
                }
                (m.finalize(), start.elapsed().as_secs_f64())
            }
            "md-5-memory" => {
                let data = buffer();
                let start = Instant::now();
                let mut m = ::md5::Md5::new();
                for _ in 0..16 {
                    data.chunks(CHUNK).for_each(|c| m.update(c));
                }
                (m.finalize().into(), start.elapsed().as_secs_f64())
            }
            other => panic!(
                "IOTHTTP_MD5_BENCH_IMPL is {other:?}: iothttp, md-5, iothttp-memory or md-5-memory"
            ),
        };
        println!("md5-bench {which} {} {secs:.6}", hex(&digest));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn assembly_matches_the_rust_rounds() {
        use super::{compress, INIT};
        let mut rng = Rng(0x1357_9bdf_2468_ace0);
        for case in 0..200 {
            let n = 1 + rng.below(20);
            let blocks = rng.bytes(BLOCK * n);
            let mut start = INIT;
            start[case % 4] = rng.next() as u32;
            let (mut asm, mut soft) = (start, start);
            super::x86_64::compress(&mut asm, &blocks);
            super::soft::compress(&mut soft, &blocks);
            assert_eq!(asm, soft, "case {case}: {} blocks", blocks.len() / BLOCK);
        }
        // No block: the state is left as it is.
        let mut s = INIT;
        compress(&mut s, &[]);
        assert_eq!(s, INIT);
    }
}
