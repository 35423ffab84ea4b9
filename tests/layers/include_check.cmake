# Run by tests/layers/CMakeLists.txt (see layer_include_test there):
#   cmake -DCOMPILER=c++ -DSTANDARD=c++20 -DFLAGS=file -DWORK=dir
#         -DSEES=a.h,b.h -DBLIND_TO=c.h -P include_check.cmake
cmake_minimum_required(VERSION 3.25)
file(STRINGS ${FLAGS} flags)
file(MAKE_DIRECTORY ${WORK})
string(REPLACE "," ";" sees "${SEES}")
string(REPLACE "," ";" blind_to "${BLIND_TO}")

# Compiles `#include "header"`; sets `result` to the exit code and `errors` to stderr.
function(compile_include header)
  string(MAKE_C_IDENTIFIER ${header} probe)
  file(WRITE ${WORK}/${probe}.cc "#include \"${header}\"\n")
  execute_process(COMMAND ${COMPILER} -std=${STANDARD} -fsyntax-only ${flags} ${WORK}/${probe}.cc
                  RESULT_VARIABLE code ERROR_VARIABLE stderr)
  set(result ${code} PARENT_SCOPE)
  set(errors "${stderr}" PARENT_SCOPE)
endfunction()

foreach(header IN LISTS sees)
  compile_include(${header})
  if(NOT result EQUAL 0)
    message(SEND_ERROR "${header} should be visible, but does not compile:\n${errors}")
  endif()
endforeach()
foreach(header IN LISTS blind_to)
  compile_include(${header})
  if(result EQUAL 0)
    message(SEND_ERROR "${header} should not be visible, but compiles")
  # GCC says "HEADER: No such file or directory", clang "'HEADER' file not found".
  elseif(NOT errors MATCHES "${header}: No such file or directory" AND
         NOT errors MATCHES "'${header}' file not found")
    message(SEND_ERROR "${header} fails for another reason than being out of sight:\n${errors}")
  endif()
endforeach()
