# install(): headers, the static library, a CMake package (find_package(toydb))
# and a pkg-config file (pkg-config --cflags --libs toydb).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS toydb EXPORT toydbTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/toydb DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT toydbTargets NAMESPACE toydb:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/toydb)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/toydbConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/toydbConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/toydb)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/toydbConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/toydbConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/toydbConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/toydb)

file(RELATIVE_PATH TOYDB_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
configure_file(${PROJECT_SOURCE_DIR}/cmake/toydb.pc.in ${CMAKE_CURRENT_BINARY_DIR}/toydb.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/toydb.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
