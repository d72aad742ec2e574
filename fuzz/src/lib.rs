//! What every fuzz target shares: an allocator that turns an allocation past the target's
//! limit into a crash libFuzzer records (the "bounded allocation" invariant: a length or count
//! field must never make a decoder allocate more than a configured limit, and an abort is what
//! an unbounded `Vec::with_capacity` does in production), a paused-clock runtime so held
//! requests and timers finish in virtual time, and an in-memory stream that hands a decoder
//! the input in the pieces the fuzzer chose.
//!
//! This crate is outside the main workspace and its `deny(unsafe_code)`: a global allocator
//! needs `unsafe impl GlobalAlloc`, and that is the only unsafe code here.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The system allocator, with a ceiling on any one allocation and on the bytes live at once.
pub struct CappedAlloc {
    limit: usize,
    live: AtomicUsize,
}

impl CappedAlloc {
    /// An allocator that aborts once one allocation, or everything live, passes `limit` bytes.
    pub const fn new(limit: usize) -> Self {
        CappedAlloc {
            limit,
            live: AtomicUsize::new(0),
        }
    }

    fn admit(&self, size: usize) {
        let live = self.live.fetch_add(size, Ordering::Relaxed) + size;
        if size > self.limit || live > self.limit {
            over_limit(size, live, self.limit);
        }
    }
}

/// Reports without allocating (the allocator is what failed), then aborts: libFuzzer saves
/// the input as a crash.
#[cold]
fn over_limit(size: usize, live: usize, limit: usize) -> ! {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"\n==fuzz== allocation over the target's limit: size ");
    let _ = err.write_all(digits(size, &mut [0; 20]));
    let _ = err.write_all(b" bytes, live ");
    let _ = err.write_all(digits(live, &mut [0; 20]));
    let _ = err.write_all(b" bytes, limit ");
    let _ = err.write_all(digits(limit, &mut [0; 20]));
    let _ = err.write_all(b" bytes\n");
    std::process::abort()
}

fn digits(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the wrapper only counts sizes.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.admit(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.admit(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.live.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.live.fetch_sub(layout.size(), Ordering::Relaxed);
        self.admit(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Declares the target's global allocator with a limit in bytes.
#[macro_export]
macro_rules! cap_allocations {
    ($limit:expr) => {
        #[global_allocator]
        static ALLOC: $crate::CappedAlloc = $crate::CappedAlloc::new($limit);
    };
}

/// Longest any one input may run in virtual time before it counts as a hang: longer than any
/// hold, parked fetch, rebalance delay or keepalive the servers have.
pub const VIRTUAL_BOUND: Duration = Duration::from_secs(3600);

/// Runs `f` on a fresh current-thread runtime whose clock is paused (it jumps ahead whenever
/// every task waits on a timer), and panics if it has not finished in [`VIRTUAL_BOUND`].
pub fn block_on<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    rt.block_on(async {
        match tokio::time::timeout(VIRTUAL_BOUND, f).await {
            Ok(out) => out,
            Err(_) => panic!("did not finish within {VIRTUAL_BOUND:?} of virtual time"),
        }
    })
}

/// A stream whose reads return the given pieces one at a time, then end; writes are accepted
/// and dropped (what a peer that never reads would see is not the point here).
pub struct Pieces {
    parts: VecDeque<Vec<u8>>,
}

impl Pieces {
    /// `data` in pieces whose lengths (1 byte to 4 KiB) follow from the data itself, so one
    /// input always splits the same way and a raw capture needs no extra framing.
    pub fn varied(data: &[u8]) -> Self {
        let mut seed = data
            .iter()
            .fold(data.len() as u32, |h, &b| h.wrapping_mul(31) ^ b as u32);
        let mut cuts = Vec::new();
        let mut at = 0;
        while at < data.len() {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let len = [1, 3, 17, 256, 4096][(seed >> 16) as usize % 5];
            cuts.push(len as u16);
            at += len;
        }
        let mut parts = VecDeque::new();
        let mut rest = data;
        for len in cuts {
            let (head, tail) = rest.split_at((len as usize).min(rest.len()));
            parts.push_back(head.to_vec());
            rest = tail;
        }
        Pieces { parts }
    }

    /// `data` cut after each byte offset in `cuts` (taken modulo the length, in order).
    pub fn new(data: &[u8], cuts: &[u16]) -> Self {
        let mut parts = VecDeque::new();
        let mut rest = data;
        for &c in cuts {
            if rest.is_empty() {
                break;
            }
            let at = (c as usize % rest.len()).max(1);
            let (head, tail) = rest.split_at(at);
            parts.push_back(head.to_vec());
            rest = tail;
        }
        if !rest.is_empty() {
            parts.push_back(rest.to_vec());
        }
        Pieces { parts }
    }
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some(front) = self.parts.front_mut() {
            let n = front.len().min(buf.remaining());
            buf.put_slice(&front[..n]);
            front.drain(..n);
            if front.is_empty() {
                self.parts.pop_front();
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Pieces {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
