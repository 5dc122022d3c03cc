// The single error channel: a thread-local message that the managed side takes (and frees) in one helper.
#include "common.h"
#include <cstdlib>
#include <cstring>

namespace {
thread_local char* g_last_error = nullptr;
}

namespace ck {
void set_error(const char* message) {
  std::free(g_last_error);
  g_last_error = strdup(message != nullptr ? message : "(no message)");
}
}  // namespace ck

// Returns the pending message (ownership passes to the caller, who frees it with ck_free_string) or nullptr.
CK_EXPORT char* ck_take_error() {
  char* e = g_last_error;
  g_last_error = nullptr;
  return e;
}

CK_EXPORT void ck_free_string(char* s) { std::free(s); }

// Test hook: makes the native side throw a non-c10 exception, to prove it never crosses the ABI.
CK_EXPORT int ck_debug_throw(int kind) {
  try {
    if (kind == 0) throw std::runtime_error("std::runtime_error from ck_debug_throw");
    if (kind == 1) TORCH_CHECK(false, "c10::Error from ck_debug_throw");
    throw 42;
  }
  CK_CATCH(-1)
}
