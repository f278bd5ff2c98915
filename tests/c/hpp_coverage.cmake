# Every function of iothttp.h is wrapped by iothttp.hpp (the CTest test cxx_coverage):
#
#   cmake -DHEADER=<iothttp.h> -DHPP=<iothttp.hpp> -P tests/c/hpp_coverage.cmake
#
# A function counts as wrapped when iothttp.hpp names it (a call, or a *_free as an owner's
# template argument).
# Fails (exit 1) naming the functions iothttp.hpp does not call.
cmake_minimum_required(VERSION 3.16)
foreach(_v HEADER HPP)
  if(NOT EXISTS "${${_v}}")
    message(FATAL_ERROR "hpp_coverage: ${_v}='${${_v}}' does not exist")
  endif()
endforeach()
file(STRINGS "${HEADER}" _decls REGEX "^[A-Za-z_].*[ *]iothttp_[a-z0-9_]+\\(")
file(READ "${HPP}" _hpp)
set(_missing "")
set(_n 0)
foreach(_line IN LISTS _decls)
  string(REGEX REPLACE "^.*[ *](iothttp_[a-z0-9_]+)\\(.*$" "\\1" _fn "${_line}")
  math(EXPR _n "${_n} + 1")
  string(REGEX MATCH "${_fn}[^A-Za-z0-9_]" _at "${_hpp}")
  if(NOT _at)
    list(APPEND _missing "${_fn}")
  endif()
endforeach()
if(_n EQUAL 0)
  message(FATAL_ERROR "hpp_coverage: no functions found in ${HEADER}")
endif()
if(_missing)
  string(REPLACE ";" " " _missing "${_missing}")
  message(FATAL_ERROR "iothttp.hpp does not wrap: ${_missing}")
endif()
message(STATUS "iothttp.hpp wraps all ${_n} functions of iothttp.h")
