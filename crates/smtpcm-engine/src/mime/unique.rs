//! Unique tokens for generated `Message-ID`s and MIME boundaries, without a system call
//! per message.
//!
//! A random UUID per token asked the kernel for 16 random bytes every time (two system
//! calls per message: the Message-ID and the boundary). Here the process draws 128 random
//! bits once, then each token mixes them with a counter through SplitMix64's finaliser,
//! a bijection on 64 bits: within a process no two tokens are equal, and across processes
//! the random seeds keep them apart as a random UUID would.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

static SEED: OnceLock<[u64; 2]> = OnceLock::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// An odd constant (2^64 / golden ratio): `n * GOLDEN` is injective in `n`.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn seed() -> [u64; 2] {
    *SEED.get_or_init(|| {
        let mut bytes = [0u8; 16];
        if getrandom::fill(&mut bytes).is_err() {
            // No OS randomness (a very unusual sandbox): the time and process id still
            // tell processes apart, and the counter keeps tokens of one process distinct.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes = (now ^ (u128::from(std::process::id()) << 64)).to_le_bytes();
        }
        let (a, b) = bytes.split_at(8);
        let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or_default());
        [word(a), word(b)]
    })
}

/// SplitMix64's output function: a bijection that spreads every input bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 32 lowercase hexadecimal digits, unique within the process and random across processes
/// (the shape of a UUID in its simple form).
pub(crate) fn token() -> String {
    let [a, b] = seed();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let step = n.wrapping_mul(GOLDEN);
    let value =
        (u128::from(mix(a.wrapping_add(step))) << 64) | u128::from(mix(b.wrapping_add(step)));
    // By hand: `format!("{:032x}")` cost more than the rest of the token.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 32];
    for (i, d) in digits.iter_mut().enumerate() {
        *d = HEX[((value >> (124 - 4 * i)) & 0xf) as usize];
    }
    digits.iter().map(|&d| char::from(d)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_hex_of_uuid_length() {
        let many: std::collections::HashSet<String> = (0..10_000).map(|_| token()).collect();
        assert_eq!(many.len(), 10_000);
        for t in many.iter().take(10) {
            assert_eq!(t.len(), 32);
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
    }
}
