//! The file's checksum: a CRC-32 of everything a load reads from it, the metadata as well as
//! the tensors, so that a changed byte anywhere is found (see the module documentation of
//! [`crate::io`] for the exact layout, which a reader in another language can follow).

use crc32fast::Hasher;
use safetensors::tensor::Dtype;

/// The metadata key holding the checksum.
pub(super) const KEY: &str = "checksum";

/// The start of the checksum's value; eight lowercase hexadecimal digits follow.
const PREFIX: &str = "crc32:";

/// A tensor as the checksum sees it: (name, type, shape, bytes).
pub(super) type Part<'a> = (&'a str, Dtype, &'a [usize], &'a [u8]);

/// The checksum of a file's `metadata` pairs (any order; the checksum's own key is skipped) and
/// `tensors` (any order), as written in the file: `crc32:` and eight lowercase hex digits.
///
/// Metadata pairs are taken in byte order of their keys, then tensors in byte order of their
/// names; every string and byte run is preceded by its length as a little-endian `u64`, and a
/// shape by its number of dimensions, then each dimension, as little-endian `u64`s.
pub(super) fn checksum<'a>(
    metadata: impl IntoIterator<Item = (&'a str, &'a str)>,
    tensors: impl IntoIterator<Item = Part<'a>>,
) -> String {
    let mut pairs: Vec<(&str, &str)> = metadata.into_iter().filter(|(k, _)| *k != KEY).collect();
    pairs.sort_unstable();
    let mut parts: Vec<Part<'a>> = tensors.into_iter().collect();
    parts.sort_unstable_by_key(|p| p.0);
    let mut h = Hasher::new();
    let mut run = |bytes: &[u8]| {
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    for (k, v) in pairs {
        run(k.as_bytes());
        run(v.as_bytes());
    }
    for (name, dtype, shape, data) in parts {
        run(name.as_bytes());
        run(dtype.to_string().as_bytes());
        let dims: Vec<u8> = shape
            .iter()
            .flat_map(|&d| (d as u64).to_le_bytes())
            .collect();
        run(&dims);
        run(data);
    }
    format!("{PREFIX}{:08x}", h.finalize())
}

/// Whether `value` is a checksum this version writes (`crc32:` and eight lowercase hex digits).
pub(super) fn is_understood(value: &str) -> bool {
    value.strip_prefix(PREFIX).is_some_and(|hex| {
        hex.len() == 8
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_ignores_order_and_its_own_key_but_sees_every_byte() {
        let w = [1u8, 2, 3, 4];
        let a = checksum(
            [("b", "2"), ("a", "1"), (KEY, "crc32:00000000")],
            [("t", Dtype::F32, &[1usize][..], &w[..])],
        );
        let b = checksum(
            [("a", "1"), ("b", "2")],
            [("t", Dtype::F32, &[1usize][..], &w[..])],
        );
        assert_eq!(a, b);
        assert!(is_understood(&a), "{a}");
        // Moving a byte from a key to its value, or a dimension, changes the checksum.
        assert_ne!(
            a,
            checksum(
                [("a", "1"), ("b2", "")],
                [("t", Dtype::F32, &[1][..], &w[..])]
            )
        );
        assert_ne!(
            a,
            checksum(
                [("a", "1"), ("b", "2")],
                [("t", Dtype::F32, &[1, 1][..], &w[..])]
            )
        );
        // A known value, from Python:
        // zlib.crc32(struct.pack("<Q", 1) + b"a" + struct.pack("<Q", 1) + b"1")
        assert_eq!(checksum([("a", "1")], []), "crc32:f0c9029b");
        assert!(!is_understood("crc32:0000000"));
        assert!(!is_understood("crc32:ABCDEF01"));
        assert!(!is_understood("sha1:00000000"));
    }
}
