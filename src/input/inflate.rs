//! Whole-member gzip decoding with libdeflate: the fast path of [`read`](crate::input::read).
//!
//! Flow log files are small (AWS caps them at 75 MB), so a whole file fits in memory and each gzip
//! member can be decoded in one call, without the streaming machinery (window copies, refills) a
//! streaming inflater needs. libdeflate does exactly that and is about twice as fast as zlib-rs on
//! these files (benches/README.md). It checks each member's CRC32 and length like any gzip reader.
//!
//! This module holds the crate's only `unsafe` code: the calls into libdeflate's C API. Everything
//! else about a file (finding members, telling damage apart, salvage) stays in safe code in `read.rs`.

use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE,
    libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// Why a member could not be decoded by [`Inflater::gzip_member`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberError {
    /// The member decodes to more than the space offered.
    NoSpace,
    /// Bad deflate data, a bad gzip header, a truncated member, or a CRC/length mismatch.
    BadData,
}

/// One worker's libdeflate decompressor (about 32 KiB of tables), reused for every member.
pub struct Inflater {
    ptr: NonNull<libdeflate_decompressor>,
}

// SAFETY: a libdeflate decompressor is plain memory owned by this value; it may move between threads
// as long as one thread uses it at a time, which `&mut self` on every use guarantees.
unsafe impl Send for Inflater {}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    pub fn new() -> Self {
        // SAFETY: no preconditions; the result is checked for NULL (out of memory).
        let ptr = unsafe { libdeflate_alloc_decompressor() };
        match NonNull::new(ptr) {
            Some(ptr) => Inflater { ptr },
            None => std::alloc::handle_alloc_error(std::alloc::Layout::new::<[u8; 32768]>()),
        }
    }

    /// Decodes the gzip member at the start of `input`, appending at most `space` bytes to `out`.
    /// Returns the number of input bytes the member took (its header, data and trailer).
    ///
    /// This is where a gzip bomb stops: libdeflate writes no byte past `space` and gives up with
    /// [`MemberError::NoSpace`] as soon as the member needs more, and `out` grows to at most
    /// `out.len() + space` bytes of capacity (never more than it already had, when that was enough),
    /// so the memory a member costs is bounded by what the caller offers, whatever it decodes to.
    pub fn gzip_member(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        space: usize,
    ) -> Result<usize, MemberError> {
        if out.capacity() - out.len() < space {
            // Exactly: `reserve` may double the capacity, past the caller's limit.
            out.reserve_exact(space);
        }
        let spare = out.spare_capacity_mut();
        let mut consumed = 0usize;
        let mut written = 0usize;
        // SAFETY: `input` is valid for `input.len()` bytes; `spare` is valid for writes of
        // `spare.len() >= space` bytes (ensured above) and libdeflate writes at most `space` bytes
        // there; both out-pointers are valid `usize`s; the decompressor is exclusively ours.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                self.ptr.as_ptr(),
                input.as_ptr().cast(),
                input.len(),
                spare.as_mut_ptr().cast(),
                space,
                &mut consumed,
                &mut written,
            )
        };
        #[allow(non_upper_case_globals)]
        match result {
            libdeflate_result_LIBDEFLATE_SUCCESS => {
                debug_assert!(written <= space && consumed <= input.len());
                // SAFETY: libdeflate initialised `written <= space <= spare.len()` bytes after the
                // vector's old length.
                unsafe { out.set_len(out.len() + written) };
                Ok(consumed)
            }
            libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => Err(MemberError::NoSpace),
            _ => Err(MemberError::BadData),
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed only here.
        unsafe { libdeflate_free_decompressor(self.ptr.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::gz;

    #[test]
    fn decodes_one_member_and_says_where_it_ends() {
        let mut two = gz(b"first member\n");
        let first_len = two.len();
        two.extend(gz(b"second\n"));
        let mut out = b"kept".to_vec();
        let mut inflater = Inflater::new();
        assert_eq!(inflater.gzip_member(&two, &mut out, 100), Ok(first_len));
        assert_eq!(out, b"keptfirst member\n");
        assert_eq!(
            inflater.gzip_member(&two[first_len..], &mut out, 100),
            Ok(two.len() - first_len)
        );
        assert_eq!(out, b"keptfirst member\nsecond\n");
    }

    #[test]
    fn too_little_space_and_bad_data_are_errors_that_append_nothing() {
        let data = gz(&[b'x'; 1000]);
        let mut out = Vec::new();
        let mut inflater = Inflater::new();
        assert_eq!(
            inflater.gzip_member(&data, &mut out, 999),
            Err(MemberError::NoSpace)
        );
        assert!(out.is_empty());
        assert_eq!(
            inflater.gzip_member(&data[..data.len() - 1], &mut out, 2000),
            Err(MemberError::BadData)
        );
        let mut crc = data.clone();
        let n = crc.len();
        crc[n - 8] ^= 1;
        assert_eq!(
            inflater.gzip_member(&crc, &mut out, 2000),
            Err(MemberError::BadData)
        );
        assert!(out.is_empty());
        assert_eq!(inflater.gzip_member(&data, &mut out, 1000), Ok(data.len()));
        assert_eq!(out.len(), 1000);
    }

    /// A gzip bomb (a small member of zeros that decodes to far more than the space offered): the
    /// inflater writes nothing, stops at once, and allocates no more than the space offered, also
    /// into a buffer that already holds earlier members (where `Vec::reserve` would double it).
    #[test]
    fn a_gzip_bomb_stops_at_the_space_offered_and_allocates_no_more() {
        let zeros = vec![0u8; 64 << 20];
        let bomb = gz(&zeros);
        assert!(bomb.len() < 128 << 10, "{} bytes", bomb.len());
        let mut inflater = Inflater::new();
        let space = 1 << 20;
        let mut out = Vec::new();
        assert_eq!(
            inflater.gzip_member(&bomb, &mut out, space),
            Err(MemberError::NoSpace)
        );
        assert!(out.is_empty());
        assert!(out.capacity() <= space, "{}", out.capacity());
        // Earlier members' text fills the buffer: the bomb may take `space` more, not the double.
        let mut out = Vec::with_capacity(3 << 20);
        out.resize(3 << 20, b'a');
        assert_eq!(
            inflater.gzip_member(&bomb, &mut out, space),
            Err(MemberError::NoSpace)
        );
        assert_eq!(out.len(), 3 << 20, "nothing appended");
        assert!(
            out.capacity() <= (3 << 20) + space,
            "capacity {} past the {} bytes held and the {space} offered",
            out.capacity(),
            3 << 20
        );
        // Room enough already: nothing is allocated.
        let mut out = Vec::with_capacity(2 << 20);
        assert_eq!(
            inflater.gzip_member(&bomb, &mut out, space),
            Err(MemberError::NoSpace)
        );
        assert_eq!(out.capacity(), 2 << 20);
    }
}
