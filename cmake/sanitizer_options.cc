// Run-time options of the sanitizers, linked into every program of a TIDEMARK_SANITIZE
// build (cmake/sanitizers.cmake). The runtimes call these before main; ASAN_OPTIONS and
// UBSAN_OPTIONS in the environment still override them.
extern "C" {

// Fail the test that meets an error, with a stack, and exit with a status nobody mistakes
// for tidemark's own (0, 1, 2).
const char* __asan_default_options() {
  return "abort_on_error=0:exitcode=86:detect_stack_use_after_return=1:"
         "strict_string_checks=1:check_initialization_order=1";
}

const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1"; }

const char* __lsan_default_options() { return "exitcode=86"; }
}
