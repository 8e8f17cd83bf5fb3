# Every dependency is a Debian package; nothing is downloaded at build time.
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(fmt REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
