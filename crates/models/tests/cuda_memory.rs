//! A real out-of-memory failure in the embedding engine splits the batch, and the rows equal those of the same batch
//! run with memory to spare. The device is filled with blocks until an allocation fails, then two blocks are given
//! back: room for a few sequences of 1,000 tokens at a time, not for the whole batch. On a CUDA device (with the
//! `cuda-tests` feature; ignored without it) with blocks of 256 MiB and 512 sequences; on the CPU (an ignored test, `cargo test
//! --release -p biotorch-models --test cuda_memory -- --ignored`) with blocks of 64 MiB and 64 sequences, under an
//! address-space limit that the test sets for its process, so that the CPU allocator fails as a full GPU does. Alone
//! in its test binary, so that no other test allocates while the device is full.

use std::sync::atomic::{AtomicUsize, Ordering};

use biotorch_models::embed::{EmbedPlan, Embedder, Encoder, LongPolicy, MeanSpan, Specials};
use biotorch_models::{device, Esm2, Esm2Config, Result};
use tch::{Device, Kind, Tensor};

/// The model, counting its batches.
struct Counting {
    inner: Esm2,
    calls: AtomicUsize,
}

impl Encoder for Counting {
    fn hidden_size(&self) -> i64 {
        Encoder::hidden_size(&self.inner)
    }

    fn num_layers(&self) -> usize {
        Encoder::num_layers(&self.inner)
    }

    fn device(&self) -> Device {
        Encoder::device(&self.inner)
    }

    fn mean_span(&self) -> MeanSpan {
        Encoder::mean_span(&self.inner)
    }

    fn hidden_states(&self, ids: &Tensor, mask: &Tensor, layers: &[usize], train: bool) -> Result<Vec<Tensor>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Encoder::hidden_states(&self.inner, ids, mask, layers, train)
    }
}

/// GPU-only: `cargo test --release -p biotorch-models --features cuda-tests --test cuda_memory` (scripts/gpu-check.sh
/// runs it); without a CUDA device it fails rather than passing.
#[test]
#[cfg_attr(not(feature = "cuda-tests"), ignore = "needs a CUDA device: --features cuda-tests")]
fn a_real_out_of_memory_on_cuda_splits_the_batch() {
    device::load_cuda_backend();
    assert!(tch::Cuda::is_available(), "--features cuda-tests: no CUDA device is visible");
    splits_when_full(Device::Cuda(0), 512, 64 << 20);
}

#[test]
#[ignore = "limits this process's address space; run it alone: -- --ignored"]
fn a_real_out_of_memory_on_the_cpu_splits_the_batch() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmSize:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap();
    let limit = (kib + (3 << 20)) * 1024;
    let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: libc::RLIM_INFINITY };
    // SAFETY: a plain system call with a valid pointer.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) }, 0);
    splits_when_full(Device::Cpu, 64, 16 << 20);
}

/// Embeds `sequences` sequences of 1,000 tokens with memory to spare, then with the device filled by blocks of `block`
/// floats but two, and with it full.
fn splits_when_full(device: Device, sequences: usize, block: i64) {
    let config = Esm2Config {
        num_hidden_layers: 2,
        hidden_size: 256,
        intermediate_size: 1024,
        num_attention_heads: 4,
        ..Esm2Config::esm2_t6_8m()
    };
    tch::manual_seed(7);
    let model = Counting { inner: Esm2::new_random(config, device, Kind::Float).unwrap(), calls: AtomicUsize::new(0) };
    let data: Vec<Vec<i64>> =
        (0..sequences).map(|i| (0..1000).map(|t| 4 + ((i * 7 + t * 3) % 20) as i64).collect()).collect();
    let items: Vec<&[i64]> = data.iter().map(Vec::as_slice).collect();
    let specials = Specials { start: 0, eos: 2, pad: 1 };
    // One batch of every sequence.
    let embedder = Embedder::new(EmbedPlan::mean_of_last(2, 1022, LongPolicy::Truncate, 1 << 20), specials).unwrap();
    let roomy = embedder.embed(&model, &items).unwrap();
    assert_eq!(model.calls.swap(0, Ordering::Relaxed), 1, "with memory to spare the batch runs whole");

    let mut blocks = fill(device, block);
    assert!(blocks.len() >= 2, "less than two blocks of memory were free before the test");
    blocks.truncate(blocks.len() - 2);
    let cramped = embedder.embed(&model, &items);
    let calls = model.calls.load(Ordering::Relaxed);
    drop(blocks);
    let cramped = cramped.unwrap();
    assert!(calls > 1, "the batch fitted in two blocks: nothing was split");
    let mut worst = 0f32;
    for (a, b) in roomy.iter().zip(&cramped) {
        for (x, y) in a.vectors[0].iter().zip(&b.vectors[0]) {
            worst = worst.max((x - y).abs());
        }
    }
    eprintln!("{calls} attempts; largest difference to the whole batch: {worst:e}");
    assert!(worst < 1e-4, "split rows differ from the whole batch's by {worst}");

    // One sequence that does not fit even alone: a clear error, and the device is usable afterwards.
    let blocks = fill(device, 1 << 20);
    let err = embedder.embed(&model, &items[..1]).unwrap_err();
    drop(blocks);
    let name = biotorch_models::memory::device_name(device);
    assert!(err.to_string().starts_with(&format!("out of memory on {name}: one sequence of 1002 tokens")), "{err}");
    assert_eq!(embedder.embed(&model, &items[..1]).unwrap()[0].vectors[0].len(), 256);
}

/// Blocks of `block` floats on `device` until one cannot be allocated.
fn fill(device: Device, block: i64) -> Vec<Tensor> {
    let mut blocks = Vec::new();
    while let Ok(t) = Tensor::f_empty([block], (Kind::Float, device)) {
        blocks.push(t);
    }
    blocks
}
