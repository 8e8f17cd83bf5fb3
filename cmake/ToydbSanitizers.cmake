# Warnings and sanitizer flags shared by every toydb target.
add_library(toydb_warnings INTERFACE)
target_compile_options(toydb_warnings INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wpedantic -Wnon-virtual-dtor
  -Wno-missing-field-initializers>
  # Checks the ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotations.
  $<$<CXX_COMPILER_ID:Clang>:-Wthread-safety>)

if(TOYDB_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(TOYDB_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT TOYDB_SANITIZE STREQUAL "")
  message(FATAL_ERROR "TOYDB_SANITIZE must be '', 'address' or 'thread', not '${TOYDB_SANITIZE}'")
endif()
