//! Compiles the C++ shim in `shim/` against RDKit and links the RDKit libraries.
//!
//! RDKit comes from Debian's `librdkit-dev` (2022.09): headers in
//! `/usr/include/rdkit`, `libRDKit*.so` in the default library path. Its
//! headers include Boost's, so `libboost-dev` is needed as well.
//! `RDKIT_INCLUDE_DIR` and `RDKIT_LIB_DIR` point the build at another RDKit.

use std::env;
use std::path::{Path, PathBuf};

/// RDKit libraries the shim uses, most dependent first.
const RDKIT_LIBS: &[&str] = &[
    // SDF records and molecule grids (`formats.rs`).
    "RDKitMolDraw2D",
    "RDKitDepictor",
    "RDKitFileParsers",
    "RDKitFilterCatalog",
    "RDKitCatalogs",
    "RDKitChemTransforms",
    "RDKitDescriptors",
    "RDKitFingerprints",
    "RDKitSubstructMatch",
    "RDKitSmilesParse",
    "RDKitDataStructs",
    "RDKitGraphMol",
    "RDKitRDGeneral",
];

const SHIM_FILES: &[&str] = &["shim/biotorch_rdkit_shim.cpp", "shim/biotorch_rdkit_shim.h", "shim/cairo/cairo.h"];

fn main() {
    for file in SHIM_FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    println!("cargo:rerun-if-env-changed=RDKIT_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=RDKIT_LIB_DIR");
    println!("cargo:rerun-if-env-changed=BOOST_INCLUDE_DIR");

    let include_dir =
        env::var_os("RDKIT_INCLUDE_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/include/rdkit"));
    if !include_dir.join("GraphMol/SmilesParse/SmilesParse.h").is_file() {
        fail(&format!(
            "RDKit headers not found in {}: run `apt-get install -y librdkit-dev` (or `make setup`), \
             or set RDKIT_INCLUDE_DIR to the folder holding GraphMol/ and RDGeneral/",
            include_dir.display()
        ));
    }
    let boost_dir = env::var_os("BOOST_INCLUDE_DIR").map(PathBuf::from);
    let boost_found = match &boost_dir {
        Some(dir) => dir.join("boost/config.hpp").is_file(),
        None => {
            Path::new("/usr/include/boost/config.hpp").is_file()
                || Path::new("/usr/local/include/boost/config.hpp").is_file()
        }
    };
    if !boost_found {
        fail(
            "Boost headers (boost/config.hpp), which the RDKit headers include, not found: \
             run `apt-get install -y libboost-dev` (or `make setup`), or set BOOST_INCLUDE_DIR",
        );
    }

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .file("shim/biotorch_rdkit_shim.cpp")
        .include("shim")
        // cairo's three declarations MolDraw2DCairo.h needs (shim/cairo/cairo.h explains why).
        .include("shim/cairo")
        .include(&include_dir)
        .warnings(true)
        .extra_warnings(true)
        // RDKit's own headers are not clean under -Wextra.
        .flag_if_supported("-Wno-unused-parameter");
    if let Some(dir) = &boost_dir {
        build.include(dir);
    }
    build.compile("biotorch_rdkit_shim");

    if let Some(lib_dir) = env::var_os("RDKIT_LIB_DIR") {
        let lib_dir = PathBuf::from(lib_dir);
        println!("cargo:rustc-link-search=native={}", lib_dir.display());
        // Lets this crate's own tests find a non-system RDKit at run time;
        // dependents' binaries need LD_LIBRARY_PATH (or their own rpath).
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib_dir.display());
    }
    for lib in RDKIT_LIBS {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    // MolDraw2DCairo's inline destructor calls cairo directly. Debian ships only the runtime libcairo.so.2 unless
    // libcairo2-dev is installed, so link that file by its name.
    println!("cargo:rustc-link-lib=dylib:+verbatim=libcairo.so.2");
}

fn fail(message: &str) -> ! {
    // cargo prints a build script's stderr when it fails.
    eprintln!("error: {message}");
    std::process::exit(1);
}
