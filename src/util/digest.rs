//! Redis's DEBUG DIGEST building blocks (`debug.c`): SHA1-based digests that are equal exactly
//! when two datasets hold the same data. Each type mixes its elements in with these.

/// `xorDigest`: digest ^= SHA1(data). Order-independent (sets, hashes).
pub fn xor_digest(digest: &mut [u8; 20], data: &[u8]) {
    let h = sha1_smol::Sha1::from(data).digest().bytes();
    for (d, x) in digest.iter_mut().zip(h) {
        *d ^= x;
    }
}

/// `mixDigest`: digest = SHA1(digest ^ SHA1(data)), which makes the order of calls matter
/// (lists, sorted sets).
pub fn mix_digest(digest: &mut [u8; 20], data: &[u8]) {
    xor_digest(digest, data);
    *digest = sha1_smol::Sha1::from(&digest[..]).digest().bytes();
}
