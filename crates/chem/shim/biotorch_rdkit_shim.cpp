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

#include <GraphMol/GraphMol.h>
#include <GraphMol/SanitException.h>
#include <GraphMol/SmilesParse/SmilesParse.h>
#include <GraphMol/SmilesParse/SmilesWrite.h>
#include <RDGeneral/Invariant.h>
#include <RDGeneral/RDLog.h>
#include <RDGeneral/versions.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <ostream>
#include <streambuf>
#include <string>
#include <utility>

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

void bt_string_free(char *s) { std::free(s); }

}  // extern "C"
