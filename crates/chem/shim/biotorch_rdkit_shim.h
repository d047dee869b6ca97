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

/* ---- Descriptors, scores, fingerprints, scaffolds, alerts (biotorch-chem
 * properties). Each mirrors the RDKit Python call named in its comment. ---- */

/* Number of atoms in the graph, explicit hydrogens included
 * (ROMol::getNumAtoms). */
uint32_t bt_mol_num_atoms(const bt_mol *mol);

typedef struct bt_properties {
  double mw;   /* Descriptors.MolWt: calcAMW */
  double logp; /* Crippen.MolLogP: calcCrippenDescriptors, includeHs */
  double tpsa; /* rdMolDescriptors.CalcTPSA: calcTPSA, no S and P */
  uint32_t hbd;             /* calcNumHBD */
  uint32_t hba;             /* NumHBA 2.0.2 (RDKit 2026.09), see the .cpp */
  uint32_t rotatable_bonds; /* calcNumRotatableBonds, Default strictness */
  uint32_t rings;           /* calcNumRings */
  uint32_t aromatic_rings;  /* calcNumAromaticRings */
  uint32_t heavy_atoms;     /* getNumHeavyAtoms */
  int32_t formal_charge;    /* MolOps::getFormalCharge */
} bt_properties;

bt_status bt_mol_properties(const bt_mol *mol, bt_properties *out, char **err);

/* The eight raw properties of rdkit/Chem/QED.py `properties(mol)`, computed
 * on Chem.RemoveHs(mol) with the same SMARTS. */
typedef struct bt_qed_properties {
  double mw;
  double alogp;
  uint32_t hba;
  uint32_t hbd;
  double psa;
  uint32_t rotb;
  uint32_t arom;
  uint32_t alerts;
} bt_qed_properties;

bt_status bt_mol_qed_properties(const bt_mol *mol, bt_qed_properties *out,
                                char **err);

/* What RDKit Contrib sascorer.calculateScore takes from the molecule. */
typedef struct bt_sa_inputs {
  uint32_t num_atoms;
  uint32_t chiral_centers; /* FindMolChiralCenters(includeUnassigned=True), legacy */
  uint32_t bridgeheads;    /* calcNumBridgeheadAtoms */
  uint32_t spiro;          /* calcNumSpiroAtoms */
  uint32_t macrocycles;    /* rings (RingInfo) with more than 8 atoms */
} bt_sa_inputs;

/* SA inputs plus the nonzero elements of the unhashed Morgan radius-2 count
 * fingerprint (MorganFingerprints::getFingerprint(mol, 2)): `*n` is set to
 * their number; ids and counts are written only when `*n <= cap` (call again
 * with a larger buffer otherwise). */
bt_status bt_mol_sa_inputs(const bt_mol *mol, bt_sa_inputs *out, uint32_t *ids,
                           uint32_t *counts, size_t cap, size_t *n, char **err);

/* Morgan bit fingerprint (MorganFingerprints::getFingerprintAsBitVect(mol,
 * radius, n_bits)) into `words` (ceil(n_bits / 64) words, bit i of the
 * fingerprint is bit i % 64 of words[i / 64]). */
bt_status bt_mol_morgan_bits(const bt_mol *mol, uint32_t radius,
                             uint32_t n_bits, uint64_t *words, size_t n_words,
                             char **err);

/* MurckoScaffold.GetScaffoldForMol(mol) written by MolToSmiles (isomeric),
 * and the scaffold's ring count (after GetSymmSSSR). */
bt_status bt_mol_murcko_scaffold(const bt_mol *mol, char **out,
                                 uint32_t *n_rings, char **err);

/* MolToSmiles(FragmentOnBRICSBonds(mol)): the fragments joined by '.'. */
bt_status bt_mol_brics_smiles(const bt_mol *mol, char **out, char **err);

/* Descriptions of the matching FilterCatalog entries, PAINS (A, B, C) and
 * BRENK, each list joined by '\n' ("" when none match). */
bt_status bt_mol_alerts(const bt_mol *mol, char **pains, char **brenk,
                        char **err);

/* Non-canonical SMILES of the molecule with its atoms renumbered by `order`
 * (MolOps::renumberAtoms: new atom i is old atom order[i]; a permutation of
 * 0..num_atoms-1), written from atom 0 in index order (canonical=false). */
bt_status bt_mol_to_smiles_renumbered(const bt_mol *mol, const uint32_t *order,
                                      size_t n, int isomeric, char **out,
                                      char **err);

/* Frees a string allocated by the shim; NULL is a no-op. */
void bt_string_free(char *s);

/* ---- Substructure queries (SMARTS). ---- */

/* A compiled SMARTS query; read-only once made, so one query may be matched
 * from many threads at once (RDKit is built with RDK_BUILD_THREADSAFE_SSS). */
typedef struct bt_query bt_query;

/* Parses `len` bytes at `smarts` like Python's Chem.MolFromSmarts(smarts):
 * RDKit::SmartsToMol with default parameters. A failure is
 * BT_INVALID_INPUT with RDKit's logged reason; the empty string (reason
 * "empty SMARTS") and a NUL byte are refused too. */
bt_status bt_query_from_smarts(const char *smarts, size_t len, bt_query **out,
                               char **err);

/* Frees a query; NULL is a no-op. */
void bt_query_free(bt_query *query);

/* Number of unique matches of `query` in `mol`, as Python's
 * len(mol.GetSubstructMatches(query, uniquify=True)): RDKit::SubstructMatch
 * with uniquify, recursion, no chirality, at most 1000 matches. */
bt_status bt_mol_count_matches(const bt_mol *mol, const bt_query *query,
                               uint32_t *out, char **err);

/* ---- Formats and pictures: MOL blocks (SDF records) and molecule grids.
 * Added for SDF input/output and `--grid`; kept apart from the rest. ---- */

/* Canonical isomeric SMILES of a MOL block (V2000 or V3000), read like
 * Python's Chem.MolFromMolBlock(text): sanitize on, hydrogens removed,
 * stereochemistry from the coordinates and wedges. A block without atoms gives
 * "" (BT_OK). BT_INVALID_INPUT with RDKit's reason when it does not parse or
 * sanitize. */
bt_status bt_molblock_to_smiles(const char *text, size_t len, char **out,
                                char **err);

/* A MOL block (V2000, kekulized, as Chem.MolToMolBlock writes it) of a SMILES,
 * with 2D coordinates from RDDepict::compute2DCoords. BT_INVALID_INPUT when
 * the SMILES does not parse or sanitize. */
bt_status bt_smiles_to_molblock(const char *smiles, size_t len, char **out,
                                char **err);

/* A PNG grid of `n` molecules (SMILES, each drawn with its 2D depiction) with
 * a legend under each, `per_row` panels of panel_w x panel_h pixels per row
 * (MolDraw2DCairo + drawMolecules). The image is
 * (per_row * panel_w) x (ceil(n / per_row) * panel_h) pixels. A SMILES that
 * does not parse fails the call (BT_INVALID_INPUT). The PNG bytes are
 * malloc'd into *out (free with bt_string_free) and their count put in
 * *out_len. */
bt_status bt_grid_png(const char *const *smiles, const char *const *legends,
                      size_t n, uint32_t per_row, uint32_t panel_w,
                      uint32_t panel_h, char **out, size_t *out_len,
                      char **err);

#ifdef __cplusplus
}
#endif

#endif /* BIOTORCH_RDKIT_SHIM_H */
