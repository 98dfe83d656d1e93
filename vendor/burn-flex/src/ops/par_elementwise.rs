//! Elementwise loops over large contiguous buffers, split over the rayon pool.
//!
//! Why: the elementwise fast paths (unary, scalar and binary ops written in place) ran on the
//! calling thread alone; in a training step of a small CNN (ReLU and its gradient over every
//! activation, the optimizer's updates of a 0.5 M-parameter dense layer) they were a fifth of
//! the wall time with the other core idle. Below `PAR_MIN` elements the split costs more than
//! it saves.

/// Smallest buffer worth splitting (64 Ki elements).
#[cfg(feature = "rayon")]
pub(crate) const PAR_MIN: usize = 1 << 16;

/// Elements per task: a few tasks per thread, whole cache lines.
#[cfg(feature = "rayon")]
fn chunk_len(len: usize) -> usize {
    (len / (4 * rayon::current_num_threads())).max(PAR_MIN / 4).next_multiple_of(16)
}

/// `f(chunk)` over consecutive chunks of `data`, in parallel when it is large.
pub(crate) fn chunks_mut<E: Send>(data: &mut [E], f: impl Fn(&mut [E]) + Sync + Send) {
    #[cfg(feature = "rayon")]
    if data.len() >= PAR_MIN {
        use rayon::prelude::*;
        let chunk = chunk_len(data.len());
        data.par_chunks_mut(chunk).for_each(f);
        return;
    }
    f(data)
}

/// `f(dst chunk, src chunk)` over matching chunks of two equally long buffers, in parallel
/// when they are large.
pub(crate) fn zip_chunks_mut<E: Send, R: Sync>(dst: &mut [E], src: &[R], f: impl Fn(&mut [E], &[R]) + Sync + Send) {
    debug_assert_eq!(dst.len(), src.len());
    #[cfg(feature = "rayon")]
    if dst.len() >= PAR_MIN {
        use rayon::prelude::*;
        let chunk = chunk_len(dst.len());
        dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(|(d, s)| f(d, s));
        return;
    }
    f(dst, src)
}

/// `src.map(f)` into a new vector, in parallel when it is large.
pub(crate) fn map<E: Copy + Sync, R: Send>(src: &[E], f: impl Fn(E) -> R + Sync + Send) -> alloc::vec::Vec<R> {
    #[cfg(feature = "rayon")]
    if src.len() >= PAR_MIN {
        use rayon::prelude::*;
        let mut out = alloc::vec::Vec::with_capacity(src.len());
        src.par_iter().with_min_len(PAR_MIN / 4).map(|&x| f(x)).collect_into_vec(&mut out);
        return out;
    }
    src.iter().map(|&x| f(x)).collect()
}

/// `f(a, b)` over two equally long buffers into a new vector, in parallel when large.
pub(crate) fn map2<E: Copy + Sync, R: Send>(a: &[E], b: &[E], f: impl Fn(E, E) -> R + Sync + Send) -> alloc::vec::Vec<R> {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(feature = "rayon")]
    if a.len() >= PAR_MIN {
        use rayon::prelude::*;
        let mut out = alloc::vec::Vec::with_capacity(a.len());
        a.par_iter().zip(b.par_iter()).with_min_len(PAR_MIN / 4).map(|(&x, &y)| f(x, y)).collect_into_vec(&mut out);
        return out;
    }
    a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
}
