//! Device memory: recognising libtorch's out-of-memory failures, and host-to-device copies of batch inputs.
//!
//! libtorch reports a failed allocation as an error (`CUDA out of memory. Tried to allocate 2.00 GiB ...`,
//! `DefaultCPUAllocator: can't allocate memory ...`), which tch's infallible tensor methods turn into a panic.
//! [`catch_out_of_memory`] runs some work and tells such a failure apart from any other: an out-of-memory panic (or
//! [`Error::Torch`] result) becomes a value the caller can act on (the embedding engine retries a batch in halves);
//! every other panic is resumed unchanged. The tensors of the failed work are dropped while unwinding, which
//! returns their blocks to libtorch's caching allocator (a CUDA allocation that fails has already released the
//! allocator's unused cached blocks and retried once, so there is nothing more to free before the next attempt).

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use tch::{Device, Tensor};

use crate::error::{Error, Result};

/// What libtorch says when an allocation fails: the CUDA caching allocator (`CUDA out of memory`), a CUDA runtime
/// call (`CUDA error: out of memory`), cuBLAS (`CUBLAS_STATUS_ALLOC_FAILED`), other accelerators (`MPS backend out
/// of memory`) and the CPU allocator (`can't allocate memory`).
const SIGNS: [&str; 3] = ["out of memory", "CUBLAS_STATUS_ALLOC_FAILED", "can't allocate memory"];

/// Whether a libtorch message (or a panic message holding one) reports a failed allocation.
pub fn is_out_of_memory(message: &str) -> bool {
    SIGNS.iter().any(|sign| message.contains(sign))
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Whether a panic payload is an out-of-memory failure of libtorch.
pub fn panic_is_out_of_memory(payload: &(dyn Any + Send)) -> bool {
    panic_message(payload).is_some_and(is_out_of_memory)
}

/// libtorch's own words, shortened for an error message: the message without tch's `called Result::unwrap() on an
/// Err value: Torch("` wrapping, cut at the first line break (libtorch appends its C++ stack) and at 300 characters.
pub fn out_of_memory_detail(message: &str) -> String {
    let start = message.find("Torch(\"").map_or(0, |i| i + "Torch(\"".len());
    let text = &message[start..];
    let end = [text.find('\n'), text.find("\\n"), text.find("\")")].into_iter().flatten().min().unwrap_or(text.len());
    let text = text[..end].trim();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// The device as users write it: `cpu`, `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

thread_local! {
    /// Set while [`catch_out_of_memory`] runs work on this thread: the panic hook keeps quiet about the
    /// out-of-memory panics that it handles.
    static HANDLING: Cell<bool> = const { Cell::new(false) };
}

/// Installs, once per process, a panic hook in front of the current one that does not print the out-of-memory
/// panics [`catch_out_of_memory`] handles (the caller turns them into a retry or an error); every other panic is
/// passed to the hook that was there before.
fn quiet_handled_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if HANDLING.with(Cell::get) && panic_is_out_of_memory(info.payload()) {
                return;
            }
            previous(info);
        }));
    });
}

/// Runs `work`: its result, or `Ok(Err(detail))` when it failed for lack of memory (a panic or an
/// [`Error::Torch`] whose message [`is_out_of_memory`]), `detail` being libtorch's words
/// ([`out_of_memory_detail`]). Any other panic is resumed unchanged; other errors are returned as they are.
pub fn catch_out_of_memory<T>(work: impl FnOnce() -> Result<T>) -> Result<Result<T, String>> {
    quiet_handled_panics();
    let before = HANDLING.with(|h| h.replace(true));
    // Unwind safety: the work is a forward pass without gradients; it changes no state of the caller that a
    // panic could leave half-done, and whatever it allocated is dropped while unwinding.
    let outcome = catch_unwind(AssertUnwindSafe(work));
    HANDLING.with(|h| h.set(before));
    match outcome {
        Ok(Ok(value)) => Ok(Ok(value)),
        Ok(Err(Error::Torch(tch::TchError::Torch(message)))) if is_out_of_memory(&message) => {
            Ok(Err(out_of_memory_detail(&message)))
        }
        Ok(Err(e)) => Err(e),
        Err(payload) => match panic_message(payload.as_ref()).filter(|m| is_out_of_memory(m)) {
            Some(message) => Ok(Err(out_of_memory_detail(message))),
            None => resume_unwind(payload),
        },
    }
}

/// `t` (a CPU tensor) on `device`. On a CUDA device the copy goes through pinned (page-locked) host memory and does
/// not block the host: the kernels that use the result are queued on the same stream, after the copy, and libtorch's
/// pinned-memory allocator keeps the staging buffer until the copy has run. Should pinning fail (no pinned memory
/// left), the copy is a plain one. On the CPU, `t` itself.
pub fn upload(t: &Tensor, device: Device) -> Tensor {
    if !device.is_cuda() {
        return t.to_device(device);
    }
    // `_pin_memory`, not `pin_memory`: the latter warns on every call that its device argument is deprecated, and
    // tch always passes one.
    match t.f_internal_pin_memory(device) {
        Ok(pinned) => pinned.to_device_(device, t.kind(), true, false),
        Err(_) => t.to_device(device),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUDA_PANIC: &str = "called `Result::unwrap()` on an `Err` value: Torch(\"CUDA out of memory. Tried to \
                              allocate 2.00 GiB. GPU 0 has a total capacity of 79.10 GiB\\nException raised from \
                              malloc at c10/cuda/CUDACachingAllocator.cpp\")";

    #[test]
    fn out_of_memory_messages_are_recognised_and_shortened() {
        assert!(is_out_of_memory(CUDA_PANIC));
        assert!(is_out_of_memory("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes"));
        assert!(is_out_of_memory("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"));
        assert!(!is_out_of_memory("shape '[2, 3]' is invalid for input of size 5"));
        assert_eq!(
            out_of_memory_detail(CUDA_PANIC),
            "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.10 GiB"
        );
        assert_eq!(out_of_memory_detail("CUDA out of memory.\nstack"), "CUDA out of memory.");
        assert_eq!(device_name(Device::Cuda(1)), "cuda:1");
        assert_eq!(device_name(Device::Cpu), "cpu");
    }

    #[test]
    fn only_out_of_memory_failures_are_caught() {
        let panicked = catch_out_of_memory::<()>(|| panic!("{CUDA_PANIC}")).unwrap();
        assert!(panicked.unwrap_err().starts_with("CUDA out of memory. Tried to allocate 2.00 GiB"));
        let returned = catch_out_of_memory::<()>(|| {
            Err(Error::Torch(tch::TchError::Torch("CUDA out of memory. Tried to allocate 1.00 GiB".into())))
        });
        assert_eq!(returned.unwrap().unwrap_err(), "CUDA out of memory. Tried to allocate 1.00 GiB");
        assert_eq!(catch_out_of_memory(|| Ok(3)).unwrap().unwrap(), 3);
        assert!(matches!(catch_out_of_memory::<()>(|| Err(Error::Input("bad".into()))), Err(Error::Input(_))));
        let other = catch_unwind(|| catch_out_of_memory::<()>(|| panic!("index 7 out of range"))).unwrap_err();
        assert_eq!(panic_message(other.as_ref()), Some("index 7 out of range"));
    }

    #[test]
    fn uploads_to_the_cpu_are_the_tensor_itself() {
        let t = Tensor::from_slice(&[1i64, 2, 3]);
        let up = upload(&t, Device::Cpu);
        assert_eq!(Vec::<i64>::try_from(&up).unwrap(), [1, 2, 3]);
        assert_eq!(up.data_ptr(), t.data_ptr());
    }
}
