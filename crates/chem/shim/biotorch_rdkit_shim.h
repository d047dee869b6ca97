/*
 * biotorch_rdkit_shim.h: the extern "C" API biotorch-chem uses to reach RDKit.
 *
 * Conventions (keep them when adding functions, e.g. descriptors):
 *   - Molecules are opaque `bt_mol *` handles, created by `bt_mol_from_smiles`
 *     and released by `bt_mol_free`.
 *   - Every fallible function returns a `bt_status` and writes its result
 *     through an out pointer. On failure it leaves the out pointer untouched
 *     and, when `err` is not NULL, stores a malloc'd one-line message in *err
 *     (free it with `bt_string_free`).
 *   - Strings handed to Rust are malloc'd, NUL-terminated UTF-8 (RDKit output
 *     is ASCII); free them with `bt_string_free`.
 *   - No C++ exception ever leaves a function of this API.
 *   - A `bt_mol` may be used from any thread, but not from two threads at
 *     once: RDKit caches computed properties on the molecule (e.g. the
 *     canonical ranks written by MolToSmiles).
 */
#ifndef BIOTORCH_RDKIT_SHIM_H
#define BIOTORCH_RDKIT_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bt_mol bt_mol;

typedef enum bt_status {
  BT_OK = 0,
  /* The input is not a valid molecule (SMILES syntax or sanitization). */
  BT_INVALID_INPUT = 1,
  /* RDKit failed on a valid molecule (an exception from a computation). */
  BT_RDKIT_ERROR = 2,
  /* A non-standard exception or an allocation failure inside the shim. */
  BT_INTERNAL_ERROR = 3,
} bt_status;

/* The RDKit version the shim was compiled against (e.g. "2022.09.3"); static
 * storage, do not free. */
const char *bt_rdkit_version(void);

/* Parses `len` bytes at `smiles` like Python's Chem.MolFromSmiles(smiles):
 * RDKit::SmilesToMol with default SmilesParserParams (sanitize on).
 * Two inputs Python accepts are rejected here: one that yields a molecule
 * without atoms (e.g. the empty string), reason
 * "empty SMILES", and one holding a NUL byte, reason "SMILES contains a NUL
 * byte". */
bt_status bt_mol_from_smiles(const char *smiles, size_t len, bt_mol **out,
                             char **err);

/* Frees a molecule; NULL is a no-op. */
void bt_mol_free(bt_mol *mol);

/* Canonical SMILES (RDKit::MolToSmiles, canonical, not kekulized). */
bt_status bt_mol_to_smiles(const bt_mol *mol, int isomeric, char **out,
                           char **err);

/* Number of heavy (non-hydrogen) atoms, ROMol::getNumHeavyAtoms. */
uint32_t bt_mol_num_heavy_atoms(const bt_mol *mol);

/* Frees a string allocated by the shim; NULL is a no-op. */
void bt_string_free(char *s);

#ifdef __cplusplus
}
#endif

#endif /* BIOTORCH_RDKIT_SHIM_H */
