# TIDEMARK_SANITIZE: a comma-separated list of sanitizers every target is built with, e.g.
#   cmake -S . -B build-asan -DTIDEMARK_SANITIZE=address,undefined
# Undefined behaviour stops the program (-fno-sanitize-recover), so a test that meets it
# fails instead of printing a warning nobody reads. The options the runtimes need at run time
# are compiled into each program (sanitizer_options.cc), so the programs that tests, Python
# scripts and child processes start behave the same without any environment variable.
set(TIDEMARK_SANITIZE "" CACHE STRING
    "Sanitizers to build with, comma-separated (address,undefined); empty: none")
if(TIDEMARK_SANITIZE)
  set(sanitize_flags -fsanitize=${TIDEMARK_SANITIZE} -fno-omit-frame-pointer)
  if(TIDEMARK_SANITIZE MATCHES "undefined")
    list(APPEND sanitize_flags -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(${sanitize_flags})
  # GCC's flow analysis sees the sanitizers' checks and reports -Wmaybe-uninitialized inside
  # libstdc++ (std::regex, std::function) where nothing is uninitialised; GCC's manual warns
  # of such false positives. The plain builds keep the warning.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
  add_link_options(${sanitize_flags})
  add_library(tm_sanitizer_options OBJECT ${CMAKE_CURRENT_LIST_DIR}/sanitizer_options.cc)
  # Every executable made after this line gets the runtime options.
  link_libraries(tm_sanitizer_options)
endif()
