//! Puts libtorch's folder on the rpath of this package's tests, examples and binaries, so that
//! they run without LD_LIBRARY_PATH.
//!
//! torch-sys (`links = "tch"`) tells the build scripts of the packages that depend on it
//! directly where it found libtorch, as `DEP_TCH_LIBTORCH_LIB` (with LIBTORCH_USE_PYTORCH=1:
//! the `torch/lib` folder of the active Python's torch). Any crate that builds a binary or test
//! linking libtorch needs this same file as its build.rs plus a direct dependency on
//! `torch-sys` (the version tch uses). `rustc-link-arg` only reaches the package's own targets,
//! which is why every such crate needs its own copy.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    // torch-sys exports the folder on Linux and macOS only; elsewhere nothing to do.
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
