// Preloaded (before libasan) by .ci/sanitize for the fuzz runs only: forwards the
// sanitizer-coverage callbacks to atheris's own libFuzzer, and gives libFuzzer's death
// callback (which saves the crashing input) to libubsan as well as libasan.
//
// Why: pydl's sanitizer build uses gcc's libasan, which Python needs preloaded. libasan defines
// weak no-op versions of __sanitizer_cov_* and __sanitizer_weak_hook_*, and being first in the
// global lookup scope its versions win over the ones in atheris's core_with_libfuzzer (a
// Python extension, loaded later and locally): atheris then reports "Coverage symbols are being
// provided by a library other than libFuzzer" and fuzzes blind. Defining them here, first in
// the scope, and jumping to the definitions inside atheris's core (looked up in that object,
// not globally) gives libFuzzer its coverage back. Each forward is a tail call, so libFuzzer
// still sees its caller's return address (it keys comparisons by PC).
//
// gcc links UBSan as its own runtime (libubsan) with its own copy of sanitizer_common, so a
// death callback registered with libasan is not called on a UBSan report: libFuzzer would
// not save the input that triggered it.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void* core;  // atheris's core_with_libfuzzer, once it is loaded

struct search {
  const char* part;  // of the loaded object's path
  void* handle;
};

static int find_loaded(struct dl_phdr_info* info, size_t size, void* arg) {
  (void)size;
  struct search* s = arg;
  if (info->dlpi_name && strstr(info->dlpi_name, s->part)) {
    s->handle = dlopen(info->dlpi_name, RTLD_NOW | RTLD_NOLOAD);
    return 1;
  }
  return 0;
}

static void* loaded(const char* part) {
  struct search s = {part, NULL};
  dl_iterate_phdr(find_loaded, &s);
  return s.handle;
}

// Called only from atheris's core (so it is loaded by then), never from a malloc or memcmp
// interceptor, where dlopen could deadlock.
static void* resolve(const char* name) {
  if (!core) core = loaded("atheris/core_with_libfuzzer");
  return core ? dlsym(core, name) : NULL;
}

typedef void (*set_death_callback_fn)(void (*)(void));

void __sanitizer_set_death_callback(void (*callback)(void)) {
  set_death_callback_fn asan = (set_death_callback_fn)dlsym(RTLD_NEXT, "__sanitizer_set_death_callback");
  if (asan) asan(callback);
  void* ubsan = loaded("/libubsan.so");
  set_death_callback_fn ub = ubsan ? (set_death_callback_fn)dlsym(ubsan, "__sanitizer_set_death_callback") : NULL;
  if (ub && ub != asan) ub(callback);
}

#define FORWARD(name, params, args)                    \
  void name params {                                   \
    static void (*fn) params;                          \
    if (!fn) fn = (void(*) params)resolve(#name);      \
    if (fn) fn args;                                   \
  }

FORWARD(__sanitizer_cov_8bit_counters_init, (uint8_t* a, uint8_t* b), (a, b))
FORWARD(__sanitizer_cov_pcs_init, (const uintptr_t* a, const uintptr_t* b), (a, b))
FORWARD(__sanitizer_cov_trace_pc_guard_init, (uint32_t* a, uint32_t* b), (a, b))
FORWARD(__sanitizer_cov_trace_pc_guard, (uint32_t* a), (a))
FORWARD(__sanitizer_cov_trace_pc_indir, (uintptr_t a), (a))
FORWARD(__sanitizer_cov_trace_cmp1, (uint8_t a, uint8_t b), (a, b))
FORWARD(__sanitizer_cov_trace_cmp2, (uint16_t a, uint16_t b), (a, b))
FORWARD(__sanitizer_cov_trace_cmp4, (uint32_t a, uint32_t b), (a, b))
FORWARD(__sanitizer_cov_trace_cmp8, (uint64_t a, uint64_t b), (a, b))
FORWARD(__sanitizer_cov_trace_const_cmp1, (uint8_t a, uint8_t b), (a, b))
FORWARD(__sanitizer_cov_trace_const_cmp2, (uint16_t a, uint16_t b), (a, b))
FORWARD(__sanitizer_cov_trace_const_cmp4, (uint32_t a, uint32_t b), (a, b))
FORWARD(__sanitizer_cov_trace_const_cmp8, (uint64_t a, uint64_t b), (a, b))
FORWARD(__sanitizer_cov_trace_switch, (uint64_t a, uint64_t* b), (a, b))
FORWARD(__sanitizer_cov_trace_div4, (uint32_t a), (a))
FORWARD(__sanitizer_cov_trace_div8, (uint64_t a), (a))
FORWARD(__sanitizer_cov_trace_gep, (uintptr_t a), (a))

// libasan's string interceptors call these on every memcmp/strcmp of the process, also before
// atheris is loaded: forward only once a coverage call above has found the core.
#define FORWARD_HOOK(name, params, args)                     \
  void name params {                                         \
    static void (*fn) params;                                \
    if (!fn && core) fn = (void(*) params)dlsym(core, #name); \
    if (fn) fn args;                                         \
  }

FORWARD_HOOK(__sanitizer_weak_hook_memcmp, (void* pc, const void* a, const void* b, size_t n, int r),
             (pc, a, b, n, r))
FORWARD_HOOK(__sanitizer_weak_hook_strncmp, (void* pc, const char* a, const char* b, size_t n, int r),
             (pc, a, b, n, r))
FORWARD_HOOK(__sanitizer_weak_hook_strcmp, (void* pc, const char* a, const char* b, int r), (pc, a, b, r))
FORWARD_HOOK(__sanitizer_weak_hook_strncasecmp, (void* pc, const char* a, const char* b, size_t n, int r),
             (pc, a, b, n, r))
FORWARD_HOOK(__sanitizer_weak_hook_strcasecmp, (void* pc, const char* a, const char* b, int r), (pc, a, b, r))
FORWARD_HOOK(__sanitizer_weak_hook_strstr, (void* pc, const char* a, const char* b, char* r), (pc, a, b, r))
FORWARD_HOOK(__sanitizer_weak_hook_strcasestr, (void* pc, const char* a, const char* b, char* r), (pc, a, b, r))
FORWARD_HOOK(__sanitizer_weak_hook_memmem,
             (void* pc, const void* a, size_t na, const void* b, size_t nb, void* r), (pc, a, na, b, nb, r))
