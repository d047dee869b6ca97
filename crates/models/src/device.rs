//! Devices and number formats as users name them: `auto`, `cpu`, `cuda`, `cuda:N`, lists (`cuda:0,cuda:1`) and
//! `cuda:all`; `f32`, `bf16`, `f16`, `int8`. A device that does not exist is refused here, before any model is loaded.

use tch::{Device, Kind};

use crate::error::{Error, Result};

/// Loads libtorch's CUDA half (`libtorch_cuda.so`, which registers the CUDA backend when loaded), once; whether it
/// is loaded. The linker leaves it out of the binary's needed libraries (`--as-needed`: no symbol of it is
/// referenced; tch-rs issue 980), and without it libtorch sees no GPU. It is loaded here, on the first device
/// question that may involve CUDA, so that CPU runs never pay for it (about 0.1 s and the CUDA libraries' pages).
/// A CPU-only libtorch has no such file: nothing happens and CUDA stays unavailable.
pub fn load_cuda_backend() -> bool {
    static LOADED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LOADED.get_or_init(|| {
        #[cfg(unix)]
        {
            // SAFETY: a constant, NUL-terminated name; the handle is kept for the life of the process.
            let handle = unsafe { libc::dlopen(c"libtorch_cuda.so".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
            !handle.is_null()
        }
        #[cfg(not(unix))]
        {
            false
        }
    })
}

/// Whether a device spec may end on a GPU: `cpu` never; `auto` only where an NVIDIA driver is installed (so that
/// `auto` on a machine without one does not load the CUDA libraries: about 0.15 s and 400 MB of mapped pages,
/// measured); anything else (`cuda`, `cuda:N`, lists) always, so that a missing GPU is reported as such.
fn may_use_cuda(spec: &str) -> bool {
    match spec.trim() {
        "cpu" => false,
        "auto" => {
            std::path::Path::new("/proc/driver/nvidia/version").exists()
                || std::path::Path::new("/dev/nvidiactl").exists()
        }
        _ => true,
    }
}

/// One device: `auto` (CUDA when available), `cpu`, `cuda` (GPU 0) or `cuda:N`. A GPU that is not visible is an
/// error naming how many are.
pub fn parse_device(spec: &str) -> Result<Device> {
    if may_use_cuda(spec) {
        load_cuda_backend();
    }
    let device = parse_one(spec)?;
    check_visible(spec, device)?;
    Ok(device)
}

fn parse_one(spec: &str) -> Result<Device> {
    Ok(match spec.trim() {
        "auto" => Device::cuda_if_available(),
        "cpu" => Device::Cpu,
        "cuda" => Device::Cuda(0),
        s if s.contains(',') || s == "cuda:all" => {
            return Err(Error::Usage(format!(
                "--device {s}: several devices are supported by `biotorch embed` only; give one device here"
            )))
        }
        s if s.starts_with("cuda:") => match s[5..].parse::<usize>() {
            Ok(n) => Device::Cuda(n),
            Err(_) => return Err(Error::Usage(format!("--device {s}: expected cuda:N with N a GPU number"))),
        },
        s => return Err(Error::Usage(format!("--device {s}: use auto, cpu, cuda or cuda:N"))),
    })
}

/// One device, or several: a comma-separated list (`cuda:0,cuda:1`) or `cuda:all` (every visible GPU), for one
/// model replica each. A device may not appear twice, except `cpu` (replicas on the CPU share its cores: useful
/// only to exercise the multi-device path without GPUs); CPU and GPUs do not mix.
pub fn parse_devices(spec: &str) -> Result<Vec<Device>> {
    if spec.split(',').any(may_use_cuda) {
        load_cuda_backend();
    }
    let devices: Vec<Device> = if spec.trim() == "cuda:all" {
        let n = tch::Cuda::device_count();
        if n < 1 {
            return Err(Error::Usage(
                "--device cuda:all: no CUDA device is visible (tch::Cuda::device_count() = 0)".into(),
            ));
        }
        (0..n as usize).map(Device::Cuda).collect()
    } else {
        spec.split(',').map(|d| parse_one(d.trim())).collect::<Result<_>>()?
    };
    for (i, d) in devices.iter().enumerate() {
        if *d != Device::Cpu && devices[..i].contains(d) {
            return Err(Error::Usage(format!("--device {spec}: {d:?} is listed twice")));
        }
    }
    if devices.len() > 1 && devices.contains(&Device::Cpu) && devices.iter().any(|d| *d != Device::Cpu) {
        return Err(Error::Usage(format!(
            "--device {spec}: mix of CPU and CUDA devices; list GPUs only (or cpu only)"
        )));
    }
    for d in &devices {
        check_visible(spec, *d)?;
    }
    Ok(devices)
}

fn check_visible(spec: &str, device: Device) -> Result<()> {
    if let Device::Cuda(n) = device {
        let count = tch::Cuda::device_count();
        if count == 0 {
            return Err(Error::Usage(format!(
                "--device {spec}: cuda:{n} does not exist: no CUDA device is visible (no NVIDIA GPU or driver on this \
                 machine, CUDA_VISIBLE_DEVICES hides them, or libtorch is a CPU-only build); use --device cpu"
            )));
        }
        if n as i64 >= count {
            return Err(Error::Usage(format!(
                "--device {spec}: cuda:{n} does not exist ({count} CUDA device(s) visible: cuda:0 to cuda:{})",
                count - 1
            )));
        }
    }
    Ok(())
}

/// A number format: `f32` (`fp32`, `float32`), `bf16` (`bfloat16`) or `f16` (`fp16`, `float16`).
pub fn parse_kind(spec: &str) -> Result<Kind> {
    match parse_precision(spec)? {
        Precision::Int8 => Err(Error::Usage(format!("--dtype {spec}: use f32, bf16 or f16 (int8 is for encoders)"))),
        p => Ok(p.kind()),
    }
}

/// How a model's weights and activations are held: a floating-point kind, or `Int8`, dynamic quantization of an
/// encoder's Linear layers (int8 weights per output channel, activations quantized per token, int32 accumulation
/// in libtorch's `_int_mm`), every other part in fp32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    Bf16,
    F16,
    Int8,
}

impl Precision {
    /// The kind the weights are loaded in (`Int8` loads fp32 and then quantizes).
    pub fn kind(self) -> Kind {
        match self {
            Precision::F32 | Precision::Int8 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
            Precision::F16 => Kind::Half,
        }
    }

    /// The canonical name, as recorded in output metadata.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
        }
    }
}

/// `f32` (`fp32`, `float32`), `bf16` (`bfloat16`), `f16` (`fp16`, `float16`) or `int8` (`qint8`).
pub fn parse_precision(spec: &str) -> Result<Precision> {
    Ok(match spec {
        "f32" | "fp32" | "float32" => Precision::F32,
        "bf16" | "bfloat16" => Precision::Bf16,
        "f16" | "fp16" | "float16" => Precision::F16,
        "int8" | "qint8" => Precision::Int8,
        s => return Err(Error::Usage(format!("--dtype {s}: use f32, bf16, f16 or int8"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a CUDA build of libtorch (the project's torch wheel), asking for CUDA maps `libtorch_cuda.so` into the
    /// process (the binary does not need it, so nothing else would).
    fn cuda_backend_is_loaded_where_libtorch_has_one() {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        let Some(cpu_lib) =
            maps.lines().filter_map(|l| l.split_whitespace().nth(5)).find(|p| p.ends_with("/libtorch_cpu.so"))
        else {
            return;
        };
        let cuda_lib = std::path::Path::new(cpu_lib).with_file_name("libtorch_cuda.so");
        if !cuda_lib.exists() {
            return;
        }
        assert!(load_cuda_backend(), "{} exists but did not load", cuda_lib.display());
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        assert!(maps.contains("libtorch_cuda.so"));
    }

    #[test]
    fn devices_and_kinds_are_parsed_and_checked() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert_eq!(parse_devices("cpu,cpu").unwrap(), vec![Device::Cpu, Device::Cpu]);
        let gpus = tch::Cuda::device_count();
        let missing = parse_device(&format!("cuda:{gpus}")).unwrap_err();
        assert!(missing.to_string().contains("does not exist"), "{missing}");
        assert!(missing.is_bad_input());
        if gpus == 0 {
            let none = parse_device("cuda").unwrap_err().to_string();
            assert!(none.starts_with("--device cuda: cuda:0 does not exist: no CUDA device is visible"), "{none}");
            assert!(none.ends_with("use --device cpu"), "{none}");
        } else {
            assert!(missing.to_string().contains(&format!("cuda:0 to cuda:{}", gpus - 1)), "{missing}");
        }
        assert!(parse_device("gpu").unwrap_err().to_string().contains("use auto, cpu, cuda or cuda:N"));
        assert!(parse_device("cuda:x").is_err());
        assert!(parse_device("cpu,cpu").unwrap_err().to_string().contains("embed"));
        assert!(parse_devices("cpu,cuda:0").unwrap_err().to_string().starts_with("--device cpu,cuda:0: mix of CPU"));
        assert!(parse_devices("cuda:0,cuda:0").unwrap_err().to_string().contains("listed twice"));
        let missing = parse_devices(&format!("cuda:{gpus}")).unwrap_err();
        assert!(missing.to_string().contains("does not exist"), "{missing}");
        assert_eq!(parse_kind("bf16").unwrap(), Kind::BFloat16);
        cuda_backend_is_loaded_where_libtorch_has_one();
        assert!(parse_kind("int8").unwrap_err().to_string().contains("use f32, bf16 or f16"));
        assert_eq!(parse_precision("qint8").unwrap(), Precision::Int8);
        assert_eq!(parse_precision("bfloat16").unwrap().name(), "bf16");
        assert!(parse_precision("int4").unwrap_err().to_string().contains("use f32, bf16, f16 or int8"));
    }
}
