# The layers: each folder under src/ is one library, tm_<folder>, declared with
# tidemark_layer() in the folder's CMakeLists.txt.
#
# A target sees the headers of exactly the layers it links, directly or through their
# PUBLIC links, and no others: headers are included as "layer/header.h", and the include
# root of a layer, ${CMAKE_BINARY_DIR}/include/<layer>/, holds a single symlink
# <layer> -> src/<layer>. A layer that includes a header of a layer it does not link fails
# to compile ("No such file or directory"); tests/layers checks that it does.
#
# CMake accepts cycles between static libraries (it repeats them on the link line), so
# tidemark_check_layers() refuses them at configure time: dependencies point one way.

# tidemark_layer(NAME SOURCES... [DEPENDS layers...] [LIBS targets...]
#                [PRIVATE_LIBS targets...])
# Adds tm_NAME from SOURCES, in the folder src/NAME. It links DEPENDS (layer names, without
# tm_) and LIBS publicly, so whoever links tm_NAME sees their headers too, and PRIVATE_LIBS
# for its own sources only.
function(tidemark_layer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPENDS;LIBS;PRIVATE_LIBS" ${ARGN})
  if(NOT CMAKE_CURRENT_SOURCE_DIR STREQUAL "${CMAKE_SOURCE_DIR}/src/${name}")
    message(FATAL_ERROR "tidemark_layer(${name}) belongs in src/${name}/CMakeLists.txt")
  endif()
  set(include_root ${CMAKE_BINARY_DIR}/include/${name})
  file(MAKE_DIRECTORY ${include_root})
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR} ${include_root}/${name} SYMBOLIC)
  add_library(tm_${name} ${ARG_SOURCES})
  target_include_directories(tm_${name} PUBLIC ${include_root})
  list(TRANSFORM ARG_DEPENDS PREPEND tm_ OUTPUT_VARIABLE layer_targets)
  target_link_libraries(tm_${name} PUBLIC ${layer_targets} ${ARG_LIBS}
                        PRIVATE ${ARG_PRIVATE_LIBS})
endfunction()

# Sets `out` to the nodes among ARGN that are on a dependency cycle (or lead from one cycle
# to another); empty when there is none. The dependencies of node N are the list in the
# variable tidemark_links_N; names that are not nodes are ignored.
function(tidemark_find_cycle out)
  set(left ${ARGN})
  set(progress TRUE)
  while(left AND progress)
    set(progress FALSE)
    foreach(node IN LISTS left)
      # Drops the nodes that link nothing left (they are below every cycle) and those no
      # node left links (above every cycle).
      set(links_left FALSE)
      set(linked_by_left FALSE)
      foreach(other IN LISTS left)
        if(other IN_LIST tidemark_links_${node})
          set(links_left TRUE)
        endif()
        if(node IN_LIST tidemark_links_${other})
          set(linked_by_left TRUE)
        endif()
      endforeach()
      if(NOT links_left OR NOT linked_by_left)
        list(REMOVE_ITEM left ${node})
        set(progress TRUE)
      endif()
    endforeach()
  endwhile()
  set(${out} ${left} PARENT_SCOPE)
endfunction()

# Fails the configuration when the targets defined under src/ link each other in a cycle.
function(tidemark_check_layers)
  set(targets "")
  foreach(folder ${ARGN})
    get_property(folder_targets DIRECTORY ${folder} PROPERTY BUILDSYSTEM_TARGETS)
    list(APPEND targets ${folder_targets})
  endforeach()
  foreach(target IN LISTS targets)
    get_target_property(tidemark_links_${target} ${target} LINK_LIBRARIES)
  endforeach()
  tidemark_find_cycle(cycle ${targets})
  if(cycle)
    message(FATAL_ERROR "These targets link each other in a cycle: ${cycle}. "
                        "Dependencies between layers must point one way.")
  endif()
endfunction()
