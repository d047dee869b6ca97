// biotorch_rdkit_shim.cpp: the C++ side of biotorch-chem (see the header for
// the API conventions).
//
// How RDKit's reasons are captured
// --------------------------------
// Sanitization failures (bad valence, kekulization, ...) arrive as C++
// exceptions; their what() is the reason. SMILES syntax failures do not throw:
// SmilesToMol returns NULL and writes the reason only to RDKit's error log
// (rdErrorLog, RDGeneral/RDLog.h). On first use the shim therefore points
// rdErrorLog and rdWarningLog at one std::ostream whose streambuf appends every
// character to a `thread_local std::string`. Each RDKit call made through this
// API runs inside a LogScope that clears the calling thread's buffer on entry
// and on exit, so the buffer holds exactly what RDKit logged for this call on
// this thread: warnings logged for an earlier (valid) molecule never leak into
// a later reason, parallel parses never mix their messages, and nothing is
// printed to stderr.
//
// The streambuf has no put area, so every write goes straight to the
// thread-local string and no buffer state is shared between threads. The shared
// std::ostream object is used exactly like RDKit uses std::cerr from many
// threads by default (formatting state is never changed, only reset to its
// default); it is created once and intentionally never destroyed, because
// RDKit's loggers may still write during static destruction.

#include "biotorch_rdkit_shim.h"

#include <DataStructs/ExplicitBitVect.h>
#include <DataStructs/SparseIntVect.h>
#include <GraphMol/ChemTransforms/ChemTransforms.h>
#include <GraphMol/ChemTransforms/MolFragmenter.h>
#include <GraphMol/Descriptors/Crippen.h>
#include <GraphMol/Descriptors/Lipinski.h>
#include <GraphMol/Descriptors/MolDescriptors.h>
#include <GraphMol/Descriptors/MolSurf.h>
#include <GraphMol/FilterCatalog/FilterCatalog.h>
#include <GraphMol/Fingerprints/MorganFingerprints.h>
#include <GraphMol/GraphMol.h>
#include <GraphMol/MolOps.h>
#include <GraphMol/Substruct/SubstructMatch.h>
#include <GraphMol/SanitException.h>
#include <GraphMol/SmilesParse/SmilesParse.h>
#include <GraphMol/SmilesParse/SmilesWrite.h>
#include <RDGeneral/Invariant.h>
#include <RDGeneral/RDLog.h>
#include <RDGeneral/versions.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <memory>
#include <new>
#include <ostream>
#include <streambuf>
#include <string>
#include <utility>
#include <vector>

struct bt_query {
  std::unique_ptr<const RDKit::ROMol> query;
};

struct bt_mol {
  std::unique_ptr<RDKit::RWMol> mol;
};

namespace {

// What RDKit logged on this thread since the current LogScope began.
thread_local std::string t_log;

// Unbuffered streambuf: every character goes into the calling thread's t_log.
class ThreadLocalLogBuf final : public std::streambuf {
 protected:
  int_type overflow(int_type ch) override {
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      t_log.push_back(traits_type::to_char_type(ch));
    }
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char *s, std::streamsize n) override {
    t_log.append(s, static_cast<std::size_t>(n));
    return n;
  }
  int sync() override { return 0; }
};

// Redirects RDKit's error and warning logs to the thread-local capture. Runs
// once per process (C++11 guarantees thread-safe initialisation of the local
// static), before the first RDKit call made through this API.
void init_logging() {
  static const bool done = [] {
    auto *buf = new ThreadLocalLogBuf();   // never freed, see file header
    auto *stream = new std::ostream(buf);  // never freed, see file header
    rdErrorLog = std::make_shared<boost::logging::rdLogger>(stream);
    rdWarningLog = std::make_shared<boost::logging::rdLogger>(stream);
    return true;
  }();
  (void)done;
}

// Clears this thread's log buffer on entry and on exit of one API call.
class LogScope {
 public:
  LogScope() {
    init_logging();
    t_log.clear();
  }
  ~LogScope() {
    t_log.clear();
    // Give back memory after a pathological message (e.g. a huge SMILES
    // echoed back by the parser).
    if (t_log.capacity() > 64 * 1024) {
      std::string().swap(t_log);
    }
  }
  LogScope(const LogScope &) = delete;
  LogScope &operator=(const LogScope &) = delete;
};

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
         c == '\v';
}

// "[12:34:56] " is the timestamp RDLog::toStream puts before every message.
bool has_timestamp(const std::string &line, std::size_t pos) {
  static const char pattern[] = "[dd:dd:dd] ";
  const std::size_t n = sizeof(pattern) - 1;
  if (line.size() < pos + n) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const char c = line[pos + i];
    if (pattern[i] == 'd') {
      if (c < '0' || c > '9') return false;
    } else if (c != pattern[i]) {
      return false;
    }
  }
  return true;
}

// Turns a (possibly multi-line, timestamped) RDKit message into one line:
// timestamps stripped, lines trimmed, blank lines dropped, the rest joined
// with " / ".
std::string one_line(const std::string &text) {
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::size_t b = start;
    while (b < end && is_blank(text[b])) ++b;
    while (has_timestamp(text, b) && b + 11 <= end) {
      b += 11;
      while (b < end && is_blank(text[b])) ++b;
    }
    std::size_t e = end;
    while (e > b && is_blank(text[e - 1])) --e;
    if (e > b) {
      if (!out.empty()) out += " / ";
      out.append(text, b, e - b);
    }
    start = end + 1;
  }
  return out;
}

// malloc'd copy of `s` (NULL when out of memory).
char *dup_string(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  if (p != nullptr) {
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
  }
  return p;
}

void set_err(char **err, const std::string &message) {
  if (err != nullptr) {
    std::string line = one_line(message);
    if (line.empty()) line = "RDKit reported an error without a message";
    *err = dup_string(line);
  }
}

// Runs `f` with this thread's log captured and every exception turned into a
// status: std::bad_alloc -> BT_INTERNAL_ERROR, other std::exception ->
// `on_exception` with what() as the message, anything else ->
// BT_INTERNAL_ERROR. New API functions should go through this.
template <typename F>
bt_status guarded(char **err, bt_status on_exception, F &&f) noexcept {
  try {
    LogScope scope;
    try {
      return std::forward<F>(f)();
    } catch (const std::bad_alloc &) {
      set_err(err, "out of memory in RDKit");
      return BT_INTERNAL_ERROR;
    } catch (const std::exception &e) {
      set_err(err, e.what());
      return on_exception;
    } catch (...) {
      set_err(err, "unknown C++ exception in RDKit");
      return BT_INTERNAL_ERROR;
    }
  } catch (...) {
    // Only reachable if reporting the error itself threw.
    return BT_INTERNAL_ERROR;
  }
}


// ---- Properties -----------------------------------------------------------

// Compiled SMARTS, shared read-only by all threads: RDKit is built with
// RDK_BUILD_THREADSAFE_SSS, which makes matching a const query (recursive
// SMARTS included) from several threads safe.
std::vector<std::unique_ptr<const RDKit::ROMol>> compile_smarts(
    const std::vector<std::string> &smarts) {
  std::vector<std::unique_ptr<const RDKit::ROMol>> out;
  out.reserve(smarts.size());
  for (const auto &sma : smarts) {
    std::unique_ptr<RDKit::RWMol> q(RDKit::SmartsToMol(sma));
    if (!q) throw std::runtime_error("cannot parse SMARTS " + sma);
    out.emplace_back(std::move(q));
  }
  return out;
}

// rdkit/Chem/QED.py (RDKit 2026.09), copied verbatim.
const std::vector<std::string> kQedAcceptorSmarts = {
    "[oH0;X2]",     "[OH1;X2;v2]", "[OH0;X2;v2]", "[OH0;X1;v2]",
    "[O-;X1]",      "[SH0;X2;v2]", "[SH0;X1;v2]", "[S-;X1]",
    "[nH0;X2]",     "[NH0;X1;v3]", "[$([N;+0;X3;v3]);!$(N[C,S]=O)]"};

const std::vector<std::string> kQedAlertSmarts = {
    "*1[O,S,N]*1", "[S,C](=[O,S])[F,Br,Cl,I]", "[CX4][Cl,Br,I]",
    "[#6]S(=O)(=O)O[#6]", "[$([CH]),$(CC)]#CC(=O)[#6]",
    "[$([CH]),$(CC)]#CC(=O)O[#6]", "n[OH]",
    "[$([CH]),$(CC)]#CS(=O)(=O)[#6]", "C=C(C=O)C=O", "n1c([F,Cl,Br,I])cccc1",
    "[CH1](=O)", "[#8][#8]", "[C;!R]=[N;!R]", "[N!R]=[N!R]",
    "[#6](=O)[#6](=O)", "[#16][#16]", "[#7][NH2]", "C(=O)N[NH2]", "[#6]=S",
    "[$([CH2]),$([CH][CX4]),$(C([CX4])[CX4])]=[$([CH2]),$([CH][CX4]),$(C([CX4])[CX4])]",
    "C1(=[O,N])C=CC(=[O,N])C=C1", "C1(=[O,N])C(=[O,N])C=CC=C1",
    "a21aa3a(aa1aaaa2)aaaa3", "a31a(a2a(aa1)aaaa2)aaaa3",
    "a1aa2a3a(a1)A=AA=A3=AA=A2", "c1cc([NH2])ccc1",
    "[Hg,Fe,As,Sb,Zn,Se,se,Te,B,Si,Na,Ca,Ge,Ag,Mg,K,Ba,Sr,Be,Ti,Mo,Mn,Ru,Pd,Ni,Cu,Au,Cd,"
    "Al,Ga,Sn,Rh,Tl,Bi,Nb,Li,Pb,Hf,Ho]",
    "I", "OS(=O)(=O)[O-]", "[N+](=O)[O-]", "C(=O)N[OH]", "C1NC(=O)NC(=O)1",
    "[SH]", "[S-]", "c1ccc([Cl,Br,I,F])c([Cl,Br,I,F])c1[Cl,Br,I,F]",
    "c1cc([Cl,Br,I,F])cc([Cl,Br,I,F])c1[Cl,Br,I,F]",
    "[CR1]1[CR1][CR1][CR1][CR1][CR1][CR1]1", "[CR1]1[CR1][CR1]cc[CR1][CR1]1",
    "[CR2]1[CR2][CR2][CR2][CR2][CR2][CR2][CR2]1",
    "[CR2]1[CR2][CR2]cc[CR2][CR2][CR2]1",
    "[CH2R2]1N[CH2R2][CH2R2][CH2R2][CH2R2][CH2R2]1",
    "[CH2R2]1N[CH2R2][CH2R2][CH2R2][CH2R2][CH2R2][CH2R2]1", "C#C",
    "[OR2,NR2]@[CR2]@[CR2]@[OR2,NR2]@[CR2]@[CR2]@[OR2,NR2]",
    "[$([N+R]),$([n+R]),$([N+]=C)][O-]", "[#6]=N[OH]", "[#6]=NOC=O",
    "[#6](=O)[CX4,CR0X3,O][#6](=O)", "c1ccc2c(c1)ccc(=O)o2", "[O+,o+,S+,s+]",
    "N=C=O", "[NX3,NX4][F,Cl,Br,I]", "c1ccccc1OC(=O)[#6]",
    "[CR0]=[CR0][CR0]=[CR0]", "[C+,c+,C-,c-]", "N=[N+]=[N-]",
    "C12C(NC(N1)=O)CSC2", "c1c([OH])c([OH,NH2,NH])ccc1", "P", "[N,O,S]C#N",
    "C=C=O", "[Si][F,Cl,Br,I]", "[SX2]O",
    "[SiR0,CR0](c1ccccc1)(c2ccccc2)(c3ccccc3)", "O1CCCCC1OC2CCC3CCCCC3C2",
    "N=[CR0][N,n,O,S]",
    "[cR2]1[cR2][cR2]([Nv3X3,Nv4X4])[cR2][cR2][cR2]1[cR2]2[cR2][cR2][cR2]([Nv3X3,Nv4X4])[cR2][cR2]2",
    "C=[C!r]C#N", "[cR2]1[cR2]c([N+0X3R0,nX3R0])c([N+0X3R0,nX3R0])[cR2][cR2]1",
    "[cR2]1[cR2]c([N+0X3R0,nX3R0])[cR2]c([N+0X3R0,nX3R0])[cR2]1",
    "[cR2]1[cR2]c([N+0X3R0,nX3R0])[cR2][cR2]c1([N+0X3R0,nX3R0])",
    "[OH]c1ccc([OH,NH2,NH])cc1", "c1ccccc1OC(=O)O", "[SX2H0][N]",
    "c12ccccc1(SC(S)=N2)", "c12ccccc1(SC(=S)N2)", "c1nnnn1C=O",
    "s1c(S)nnc1NC=O", "S1C=CSC1=S", "C(=O)Onnn", "OS(=O)(=O)C(F)(F)F",
    "N#CC[OH]", "N#CC(=O)", "S(=O)(=O)C#N", "N[CH2]C#N", "C1(=O)NCC1",
    "S(=O)(=O)[O-,OH]", "NC[F,Cl,Br,I]", "C=[C!r]O", "[NX2+0]=[O+0]",
    "[OR0,NR0][OR0,NR0]", "C(=O)O[C,H1].C(=O)O[C,H1].C(=O)O[C,H1]",
    "[CX2R0][NX3R0]", "c1ccccc1[C;!R]=[C;!R]c2ccccc2",
    "[NX3R0,NX4R0,OR0,SX2R0][CX4][NX3R0,NX4R0,OR0,SX2R0]",
    "[s,S,c,C,n,N,o,O]~[n+,N+](~[s,S,c,C,n,N,o,O])(~[s,S,c,C,n,N,o,O])~[s,S,c,C,n,N,o,O]",
    "[s,S,c,C,n,N,o,O]~[nX3+,NX3+](~[s,S,c,C,n,N])~[s,S,c,C,n,N]",
    "[*]=[N+]=[*]", "[SX3](=O)[O-,OH]", "N#N", "F.F.F.F",
    "[R0;D2][R0;D2][R0;D2][R0;D2]", "[cR,CR]~C(=O)NC(=O)~[cR,CR]",
    "C=!@CC=[O,S]", "[#6,#8,#16][#6](=O)O[#6]", "c[C;R0](=[O,S])[#6]",
    "c[SX2][C;!R]", "C=C=C", "c1nc([F,Cl,Br,I,S])ncc1",
    "c1ncnc([F,Cl,Br,I,S])c1", "c1nc(c2c(n1)nc(n2)[F,Cl,Br,I])",
    "[#6]S(=O)(=O)c1ccc(cc1)F", "[15N]", "[13C]", "[18O]", "[34S]"};

struct QedPatterns {
  std::vector<std::unique_ptr<const RDKit::ROMol>> acceptors;
  std::vector<std::unique_ptr<const RDKit::ROMol>> alerts;
  std::unique_ptr<const RDKit::ROMol> aliphatic_rings;
};

const QedPatterns &qed_patterns() {
  static const QedPatterns patterns = [] {
    QedPatterns p;
    p.acceptors = compile_smarts(kQedAcceptorSmarts);
    p.alerts = compile_smarts(kQedAlertSmarts);
    p.aliphatic_rings = std::move(compile_smarts({"[$([A;R][!a])]"})[0]);
    if (p.alerts.size() != 116) {
      throw std::logic_error("QED: expected 116 structural alerts");
    }
    return p;
  }();
  return patterns;
}

// Hydrogen-bond acceptors as RDKit's NumHBA version 2.0.2 (the definition of
// the pinned PyPI RDKit 2026.09; Debian's 2022.09 has 2.0.1, which also counts
// three-connected aromatic nitrogens such as the N of N-substituted pyrroles).
const RDKit::ROMol &hba_pattern() {
  static const std::unique_ptr<const RDKit::ROMol> pattern = std::move(
      compile_smarts({"[$([O,S;H1;v2]-[!$(*=[O,N,P,S])]),$([O,S;H0;v2]),$([O,"
                      "S;-]),$([N;v3;!$(N-*=!@[O,N,P,S])]),$([nH0X2,o,s;+0])"
                      "]"})[0]);
  return *pattern;
}

bool has_match(const RDKit::ROMol &mol, const RDKit::ROMol &query) {
  RDKit::MatchVectType match;
  return RDKit::SubstructMatch(mol, query, match);
}

const RDKit::FilterCatalog &pains_catalog() {
  static const RDKit::FilterCatalog catalog(
      RDKit::FilterCatalogParams::PAINS);
  return catalog;
}

const RDKit::FilterCatalog &brenk_catalog() {
  static const RDKit::FilterCatalog catalog(
      RDKit::FilterCatalogParams::BRENK);
  return catalog;
}

std::string match_descriptions(const RDKit::FilterCatalog &catalog,
                               const RDKit::ROMol &mol) {
  std::string out;
  for (const auto &entry : catalog.getMatches(mol)) {
    if (!out.empty()) out += '\n';
    out += entry->getDescription();
  }
  return out;
}

// Stores a malloc'd copy of `s` in *out (throws bad_alloc when out of memory).
void put_string(char **out, const std::string &s) {
  char *copy = dup_string(s);
  if (copy == nullptr) throw std::bad_alloc();
  *out = copy;
}

}  // namespace

extern "C" {

const char *bt_rdkit_version(void) { return RDKit::rdkitVersion; }

bt_status bt_mol_from_smiles(const char *smiles, size_t len, bt_mol **out,
                             char **err) {
  if (out == nullptr || (smiles == nullptr && len != 0)) {
    set_err(err, "bt_mol_from_smiles: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_INVALID_INPUT, [&]() -> bt_status {
    if (len != 0 && std::memchr(smiles, '\0', len) != nullptr) {
      // RDKit 2022.09's lexer silently stops at a NUL ("CC\0C" parses as CC);
      // newer RDKit reports a syntax error. Reject it ourselves.
      set_err(err, "SMILES contains a NUL byte");
      return BT_INVALID_INPUT;
    }
    const std::string smi = len == 0 ? std::string() : std::string(smiles, len);
    // Exactly what Python's Chem.MolFromSmiles(smi) does.
    RDKit::SmilesParserParams params;
    std::unique_ptr<RDKit::RWMol> mol(RDKit::SmilesToMol(smi, params));
    if (!mol) {
      std::string reason = one_line(t_log);
      if (reason.empty()) reason = "SMILES Parse Error (RDKit logged no reason)";
      set_err(err, reason);
      return BT_INVALID_INPUT;
    }
    if (mol->getNumAtoms() == 0) {
      set_err(err, "empty SMILES");
      return BT_INVALID_INPUT;
    }
    *out = new bt_mol{std::move(mol)};
    return BT_OK;
  });
}

void bt_mol_free(bt_mol *mol) {
  try {
    delete mol;
  } catch (...) {
    // Destructors of RDKit molecules do not throw; never let one escape.
  }
}

bt_status bt_mol_to_smiles(const bt_mol *mol, int isomeric, char **out,
                           char **err) {
  if (mol == nullptr || out == nullptr) {
    set_err(err, "bt_mol_to_smiles: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_RDKIT_ERROR, [&]() -> bt_status {
    const std::string smi = RDKit::MolToSmiles(*mol->mol, isomeric != 0);
    char *copy = dup_string(smi);
    if (copy == nullptr) throw std::bad_alloc();
    *out = copy;
    return BT_OK;
  });
}

uint32_t bt_mol_num_heavy_atoms(const bt_mol *mol) {
  if (mol == nullptr) return 0;
  return static_cast<uint32_t>(mol->mol->getNumHeavyAtoms());
}

uint32_t bt_mol_num_atoms(const bt_mol *mol) {
  if (mol == nullptr) return 0;
  return static_cast<uint32_t>(mol->mol->getNumAtoms());
}

bt_status bt_mol_properties(const bt_mol *mol, bt_properties *out,
                            char **err) {
  if (mol == nullptr || out == nullptr) {
    set_err(err, "bt_mol_properties: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_RDKIT_ERROR, [&]() -> bt_status {
    const RDKit::ROMol &m = *mol->mol;
    namespace D = RDKit::Descriptors;
    bt_properties p{};
    p.mw = D::calcAMW(m);
    double mr = 0.0;
    D::calcCrippenDescriptors(m, p.logp, mr);
    p.tpsa = D::calcTPSA(m);
    p.hbd = D::calcNumHBD(m);
    {
      // calcNumHBA 2.0.2: the number of unique atom matches of its pattern.
      std::vector<RDKit::MatchVectType> matches;
      p.hba = RDKit::SubstructMatch(m, hba_pattern(), matches, true, true,
                                    false, false, m.getNumAtoms() + 1);
    }
    p.rotatable_bonds = D::calcNumRotatableBonds(m);
    p.rings = D::calcNumRings(m);
    p.aromatic_rings = D::calcNumAromaticRings(m);
    p.heavy_atoms = m.getNumHeavyAtoms();
    p.formal_charge = RDKit::MolOps::getFormalCharge(m);
    *out = p;
    return BT_OK;
  });
}

bt_status bt_mol_qed_properties(const bt_mol *mol, bt_qed_properties *out,
                                char **err) {
  if (mol == nullptr || out == nullptr) {
    set_err(err, "bt_mol_qed_properties: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_RDKIT_ERROR, [&]() -> bt_status {
    namespace D = RDKit::Descriptors;
    const QedPatterns &patterns = qed_patterns();
    // mol = Chem.RemoveHs(mol)
    std::unique_ptr<RDKit::ROMol> m(RDKit::MolOps::removeHs(static_cast<const RDKit::ROMol &>(*mol->mol)));
    bt_qed_properties p{};
    p.mw = D::calcAMW(*m);
    double mr = 0.0;
    D::calcCrippenDescriptors(*m, p.alogp, mr);
    // sum(len(mol.GetSubstructMatches(pattern)) for pattern in Acceptors)
    for (const auto &pattern : patterns.acceptors) {
      std::vector<RDKit::MatchVectType> matches;
      p.hba += RDKit::SubstructMatch(*m, *pattern, matches);
    }
    p.hbd = D::calcNumHBD(*m);
    p.psa = D::calcTPSA(*m);
    p.rotb = D::calcNumRotatableBonds(*m, D::Strict);
    // len(Chem.GetSSSR(Chem.DeleteSubstructs(Chem.Mol(mol), AliphaticRings)))
    std::unique_ptr<RDKit::ROMol> stripped(
        RDKit::deleteSubstructs(*m, *patterns.aliphatic_rings));
    std::vector<std::vector<int>> rings;
    p.arom = static_cast<uint32_t>(RDKit::MolOps::findSSSR(*stripped, rings));
    for (const auto &alert : patterns.alerts) {
      if (has_match(*m, *alert)) ++p.alerts;
    }
    *out = p;
    return BT_OK;
  });
}

bt_status bt_mol_sa_inputs(const bt_mol *mol, bt_sa_inputs *out, uint32_t *ids,
                           uint32_t *counts, size_t cap, size_t *n,
                           char **err) {
  if (mol == nullptr || out == nullptr || n == nullptr ||
      (cap != 0 && (ids == nullptr || counts == nullptr))) {
    set_err(err, "bt_mol_sa_inputs: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_RDKIT_ERROR, [&]() -> bt_status {
    const RDKit::ROMol &m = *mol->mol;
    std::unique_ptr<RDKit::SparseIntVect<std::uint32_t>> fp(
        RDKit::MorganFingerprints::getFingerprint(m, 2));
    const auto &nonzero = fp->getNonzeroElements();
    *n = nonzero.size();
    if (nonzero.size() <= cap) {
      std::size_t i = 0;
      for (const auto &[id, count] : nonzero) {
        ids[i] = id;
        counts[i] = static_cast<uint32_t>(count);
        ++i;
      }
    }
    bt_sa_inputs s{};
    s.num_atoms = m.getNumAtoms();
    // Chem.FindMolChiralCenters(m, includeUnassigned=True) with the legacy
    // stereo perception (the default of both RDKit versions), on a copy
    // because it re-assigns stereochemistry.
    RDKit::RWMol copy(m);
    for (auto *atom : copy.atoms()) atom->clearProp("_ChiralityPossible");
    RDKit::MolOps::assignStereochemistry(copy, /*cleanIt=*/true,
                                         /*force=*/true,
                                         /*flagPossibleStereoCenters=*/true);
    for (const auto *atom : copy.atoms()) {
      if (atom->hasProp("_CIPCode") || atom->hasProp("_ChiralityPossible")) {
        ++s.chiral_centers;
      }
    }
    s.bridgeheads = RDKit::Descriptors::calcNumBridgeheadAtoms(m);
    s.spiro = RDKit::Descriptors::calcNumSpiroAtoms(m);
    for (const auto &ring : m.getRingInfo()->atomRings()) {
      if (ring.size() > 8) ++s.macrocycles;
    }
    *out = s;
    return BT_OK;
  });
}

bt_status bt_mol_morgan_bits(const bt_mol *mol, uint32_t radius,
                             uint32_t n_bits, uint64_t *words, size_t n_words,
                             char **err) {
  if (mol == nullptr || (words == nullptr && n_words != 0) ||
      n_words != (static_cast<size_t>(n_bits) + 63) / 64) {
    set_err(err, "bt_mol_morgan_bits: bad arguments");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_RDKIT_ERROR, [&]() -> bt_status {
    if (n_bits == 0) throw std::invalid_argument("n_bits must be positive");
    std::unique_ptr<ExplicitBitVect> fp(
        RDKit::MorganFingerprints::getFingerprintAsBitVect(*mol->mol, radius,
                                                           n_bits));
    std::fill(words, words + n_words, uint64_t{0});
    IntVect on;
    fp->getOnBits(on);
    for (int bit : on) {
      const auto b = static_cast<uint32_t>(bit);
      words[b / 64] |= uint64_t{1} << (b % 64);
    }
    return BT_OK;
  });
}

bt_status bt_mol_murcko_scaffold(const bt_mol *mol, char **out,
                                 uint32_t *n_rings, char **err) {
  if (mol == nullptr || out == nullptr || n_rings == nullptr) {
    set_err(err, "bt_mol_murcko_scaffold: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_RDKIT_ERROR, [&]() -> bt_status {
    // MurckoScaffold.GetScaffoldForMol
    std::unique_ptr<RDKit::ROMol> res(RDKit::MurckoDecompose(*mol->mol));
    res->clearComputedProps();
    res->updatePropertyCache();
    RDKit::MolOps::symmetrizeSSSR(*res);
    const std::string smi = RDKit::MolToSmiles(*res);
    *n_rings = res->getRingInfo()->numRings();
    put_string(out, smi);
    return BT_OK;
  });
}

bt_status bt_mol_brics_smiles(const bt_mol *mol, char **out, char **err) {
  if (mol == nullptr || out == nullptr) {
    set_err(err, "bt_mol_brics_smiles: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_RDKIT_ERROR, [&]() -> bt_status {
    std::unique_ptr<RDKit::ROMol> frags(
        RDKit::MolFragmenter::fragmentOnBRICSBonds(*mol->mol));
    put_string(out, RDKit::MolToSmiles(*frags));
    return BT_OK;
  });
}

bt_status bt_mol_alerts(const bt_mol *mol, char **pains, char **brenk,
                        char **err) {
  if (mol == nullptr || pains == nullptr || brenk == nullptr) {
    set_err(err, "bt_mol_alerts: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_RDKIT_ERROR, [&]() -> bt_status {
    const std::string p = match_descriptions(pains_catalog(), *mol->mol);
    const std::string b = match_descriptions(brenk_catalog(), *mol->mol);
    char *pc = nullptr;
    put_string(&pc, p);
    try {
      put_string(brenk, b);
    } catch (...) {
      std::free(pc);
      throw;
    }
    *pains = pc;
    return BT_OK;
  });
}

bt_status bt_mol_to_smiles_renumbered(const bt_mol *mol, const uint32_t *order,
                                      size_t n, int isomeric, char **out,
                                      char **err) {
  if (mol == nullptr || out == nullptr || (order == nullptr && n != 0)) {
    set_err(err, "bt_mol_to_smiles_renumbered: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_RDKIT_ERROR, [&]() -> bt_status {
    const std::vector<unsigned int> new_order(order, order + n);
    std::unique_ptr<RDKit::ROMol> renumbered(
        RDKit::MolOps::renumberAtoms(*mol->mol, new_order));
    put_string(out, RDKit::MolToSmiles(*renumbered, isomeric != 0,
                                       /*doKekule=*/false, /*rootedAtAtom=*/-1,
                                       /*canonical=*/false));
    return BT_OK;
  });
}

void bt_string_free(char *s) { std::free(s); }

bt_status bt_query_from_smarts(const char *smarts, size_t len, bt_query **out,
                               char **err) {
  if (out == nullptr || (smarts == nullptr && len != 0)) {
    set_err(err, "bt_query_from_smarts: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_INVALID_INPUT, [&]() -> bt_status {
    if (len != 0 && std::memchr(smarts, '\0', len) != nullptr) {
      set_err(err, "SMARTS contains a NUL byte");
      return BT_INVALID_INPUT;
    }
    if (len == 0) {
      set_err(err, "empty SMARTS");
      return BT_INVALID_INPUT;
    }
    const std::string sma(smarts, len);
    // Exactly what Python's Chem.MolFromSmarts(sma) does.
    std::unique_ptr<RDKit::RWMol> q(RDKit::SmartsToMol(sma));
    if (!q) {
      std::string reason = one_line(t_log);
      if (reason.empty()) reason = "SMARTS Parse Error (RDKit logged no reason)";
      set_err(err, reason);
      return BT_INVALID_INPUT;
    }
    if (q->getNumAtoms() == 0) {
      set_err(err, "empty SMARTS");
      return BT_INVALID_INPUT;
    }
    *out = new bt_query{std::move(q)};
    return BT_OK;
  });
}

void bt_query_free(bt_query *query) {
  try {
    delete query;
  } catch (...) {
  }
}

bt_status bt_mol_count_matches(const bt_mol *mol, const bt_query *query,
                               uint32_t *out, char **err) {
  if (mol == nullptr || query == nullptr || out == nullptr) {
    set_err(err, "bt_mol_count_matches: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_RDKIT_ERROR, [&]() -> bt_status {
    std::vector<RDKit::MatchVectType> matches;
    const unsigned int n = RDKit::SubstructMatch(
        *mol->mol, *query->query, matches, /*uniquify=*/true,
        /*recursionPossible=*/true, /*useChirality=*/false,
        /*useQueryQueryMatches=*/false, /*maxMatches=*/1000);
    *out = static_cast<uint32_t>(n);
    return BT_OK;
  });
}

}  // extern "C"

// ---- Formats and pictures: MOL blocks (SDF records) and molecule grids ------
// Kept apart from the functions above; see the header for the contracts.

#include <GraphMol/Depictor/RDDepictor.h>
#include <GraphMol/FileParsers/FileParsers.h>
#include <GraphMol/MolDraw2D/MolDraw2DCairo.h>

extern "C" {

bt_status bt_molblock_to_smiles(const char *text, size_t len, char **out,
                                char **err) {
  if (out == nullptr || (text == nullptr && len != 0)) {
    set_err(err, "bt_molblock_to_smiles: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_INVALID_INPUT, [&]() -> bt_status {
    if (len != 0 && std::memchr(text, '\0', len) != nullptr) {
      set_err(err, "MOL block contains a NUL byte");
      return BT_INVALID_INPUT;
    }
    const std::string block = len == 0 ? std::string() : std::string(text, len);
    // Exactly what Python's Chem.MolFromMolBlock(block) does.
    std::unique_ptr<RDKit::RWMol> mol(RDKit::MolBlockToMol(
        block, /*sanitize=*/true, /*removeHs=*/true, /*strictParsing=*/true));
    if (!mol) {
      std::string reason = one_line(t_log);
      if (reason.empty()) reason = "MOL block could not be read (RDKit logged no reason)";
      set_err(err, reason);
      return BT_INVALID_INPUT;
    }
    put_string(out, mol->getNumAtoms() == 0 ? std::string()
                                            : RDKit::MolToSmiles(*mol, true));
    return BT_OK;
  });
}

bt_status bt_smiles_to_molblock(const char *smiles, size_t len, char **out,
                                char **err) {
  if (out == nullptr || (smiles == nullptr && len != 0)) {
    set_err(err, "bt_smiles_to_molblock: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_INVALID_INPUT, [&]() -> bt_status {
    if (len != 0 && std::memchr(smiles, '\0', len) != nullptr) {
      set_err(err, "SMILES contains a NUL byte");
      return BT_INVALID_INPUT;
    }
    const std::string smi = len == 0 ? std::string() : std::string(smiles, len);
    RDKit::SmilesParserParams params;
    std::unique_ptr<RDKit::RWMol> mol(RDKit::SmilesToMol(smi, params));
    if (!mol) {
      std::string reason = one_line(t_log);
      if (reason.empty()) reason = "SMILES Parse Error (RDKit logged no reason)";
      set_err(err, reason);
      return BT_INVALID_INPUT;
    }
    RDDepict::compute2DCoords(*mol);
    put_string(out, RDKit::MolToMolBlock(*mol));
    return BT_OK;
  });
}

bt_status bt_grid_png(const char *const *smiles, const char *const *legends,
                      size_t n, uint32_t per_row, uint32_t panel_w,
                      uint32_t panel_h, char **out, size_t *out_len,
                      char **err) {
  if (out == nullptr || out_len == nullptr ||
      (n != 0 && (smiles == nullptr || legends == nullptr))) {
    set_err(err, "bt_grid_png: null pointer argument");
    return BT_INTERNAL_ERROR;
  }
  if (n == 0 || per_row == 0 || panel_w == 0 || panel_h == 0 ||
      panel_w > 4096 || panel_h > 4096 || per_row > 64 || n > 4096) {
    set_err(err, "bt_grid_png: bad grid size");
    return BT_INTERNAL_ERROR;
  }
  return guarded(err, BT_RDKIT_ERROR, [&]() -> bt_status {
    std::vector<std::unique_ptr<RDKit::RWMol>> owned;
    std::vector<RDKit::ROMol *> mols;
    std::vector<std::string> texts;
    for (size_t i = 0; i < n; ++i) {
      if (smiles[i] == nullptr || legends[i] == nullptr) {
        throw std::invalid_argument("bt_grid_png: null SMILES or legend");
      }
      RDKit::SmilesParserParams params;
      std::unique_ptr<RDKit::RWMol> mol(RDKit::SmilesToMol(smiles[i], params));
      if (!mol) {
        set_err(err, std::string("cannot draw SMILES '") + smiles[i] +
                         "': " + one_line(t_log));
        return BT_INVALID_INPUT;
      }
      RDDepict::compute2DCoords(*mol);
      mols.push_back(mol.get());
      owned.push_back(std::move(mol));
      texts.emplace_back(legends[i]);
    }
    const size_t rows = (n + per_row - 1) / per_row;
    const size_t cols = n < per_row ? n : per_row;
    RDKit::MolDraw2DCairo drawer(static_cast<int>(cols * panel_w),
                                 static_cast<int>(rows * panel_h),
                                 static_cast<int>(panel_w),
                                 static_cast<int>(panel_h));
    drawer.drawMolecules(mols, &texts);
    drawer.finishDrawing();
    const std::string png = drawer.getDrawingText();
    char *copy = static_cast<char *>(std::malloc(png.size() == 0 ? 1 : png.size()));
    if (copy == nullptr) throw std::bad_alloc();
    std::memcpy(copy, png.data(), png.size());
    *out = copy;
    *out_len = png.size();
    return BT_OK;
  });
}

}  // extern "C"
