# cmake -DTSC=<tsc> -DBAD=<slug>.bad.tdl -DFIXED=<slug>.fixed.tdl -P check_gallery.cmake
#
# Checks one pair of the error gallery. Each file lists the diagnostics it must
# produce, one comment line per error or warning:
#     # expect: E0203 line 18
# tsc --check must print exactly those (code, line) pairs -- no more, so a
# single mistake provably causes no cascade -- and exit with 1 if any of them
# is an error, else 0. A fixed file must expect no error at all.

foreach(var TSC BAD FIXED)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_gallery.cmake: -D${var}=... is required")
  endif()
endforeach()

# The sorted "CODE line N" list that `path` declares in its `# expect:` lines.
function(gallery_expected path out_var)
  file(STRINGS "${path}" lines REGEX "^#[ \t]*expect:")
  set(expected "")
  foreach(line IN LISTS lines)
    if(NOT line MATCHES "^#[ \t]*expect:[ \t]*([EW][0-9][0-9][0-9][0-9])[ \t]+line[ \t]+([0-9]+)[ \t]*$")
      message(FATAL_ERROR "${path}: malformed expectation '${line}' (want '# expect: E0203 line 18')")
    endif()
    list(APPEND expected "${CMAKE_MATCH_1} line ${CMAKE_MATCH_2}")
  endforeach()
  list(SORT expected)
  set(${out_var} "${expected}" PARENT_SCOPE)
endfunction()

# Runs `tsc --check path`; sets the sorted "CODE line N" list of the errors
# and warnings it printed, its exit status and its whole output.
function(gallery_run path out_found out_status out_text)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env NO_COLOR=1 ${TSC} --check ${path}
    RESULT_VARIABLE status
    OUTPUT_VARIABLE stdout
    ERROR_VARIABLE stderr)
  set(text "${stdout}${stderr}")
  # One list element per output line (';' would split a line, so hide it).
  string(REPLACE ";" "<semicolon>" escaped "${text}")
  string(REPLACE "\n" ";" output_lines "${escaped}")
  set(found "")
  foreach(line IN LISTS output_lines)
    # file:line:col: error[E0203]: … or file:line:col: error: … [E0203]
    if(line MATCHES "^.+:([0-9]+):[0-9]+: (error|warning)")
      set(line_number ${CMAKE_MATCH_1})
      if(NOT line MATCHES "\\[([EW][0-9][0-9][0-9][0-9])\\]")
        message(FATAL_ERROR "${path}: a diagnostic without a code:\n${line}")
      endif()
      list(APPEND found "${CMAKE_MATCH_1} line ${line_number}")
    endif()
  endforeach()
  list(SORT found)
  set(${out_found} "${found}" PARENT_SCOPE)
  set(${out_status} "${status}" PARENT_SCOPE)
  set(${out_text} "${text}" PARENT_SCOPE)
endfunction()

function(gallery_check path role)
  gallery_expected("${path}" expected)
  set(want_status 0)
  foreach(item IN LISTS expected)
    if(item MATCHES "^E")
      set(want_status 1)
    endif()
  endforeach()
  if(role STREQUAL "bad" AND NOT expected)
    message(FATAL_ERROR "${path}: a bad file must declare its diagnostics with '# expect:' lines")
  endif()
  if(role STREQUAL "fixed" AND want_status EQUAL 1)
    message(FATAL_ERROR "${path}: a fixed file must not expect errors")
  endif()

  gallery_run("${path}" found status text)
  string(REPLACE ";" ", " expected_text "${expected}")
  string(REPLACE ";" ", " found_text "${found}")
  if(NOT status STREQUAL "${want_status}" OR NOT found STREQUAL expected)
    message(FATAL_ERROR
      "${path}:\n"
      "  expected exit ${want_status} and: ${expected_text}\n"
      "  got      exit ${status} and: ${found_text}\n"
      "tsc printed:\n${text}")
  endif()
  message(STATUS "${path}: exit ${status}, ${found_text}")
endfunction()

gallery_check("${BAD}" bad)
gallery_check("${FIXED}" fixed)
