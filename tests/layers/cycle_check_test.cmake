# tidemark_find_cycle (cmake/layers.cmake) on hand-written graphs:
#   cmake -DLAYERS=cmake/layers.cmake -P cycle_check_test.cmake
cmake_minimum_required(VERSION 3.25)
include(${LAYERS})

# Two paths from top to base; outside names (Threads::Threads) are ignored.
set(tidemark_links_top mid_a mid_b)
set(tidemark_links_mid_a base Threads::Threads)
set(tidemark_links_mid_b mid_a base)
tidemark_find_cycle(cycle top mid_a mid_b base)
if(cycle)
  message(SEND_ERROR "an acyclic graph reported a cycle: ${cycle}")
endif()

# base links mid_b: mid_a, mid_b and base form a cycle; top, which links them, is not on it.
set(tidemark_links_base mid_b)
tidemark_find_cycle(cycle top mid_a mid_b base)
if(NOT cycle STREQUAL "mid_a;mid_b;base")
  message(SEND_ERROR "expected the cycle mid_a;mid_b;base, got '${cycle}'")
endif()

# A target linking itself is a cycle too.
set(tidemark_links_alone alone)
tidemark_find_cycle(cycle alone)
if(NOT cycle STREQUAL "alone")
  message(SEND_ERROR "a self-link was not reported: '${cycle}'")
endif()
