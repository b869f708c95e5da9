# write_if_changed(PATH TEXT): writes TEXT to PATH unless PATH holds it already, so that a
# generated file whose text did not change rebuilds nothing. For the -P scripts here.
function(write_if_changed path text)
  if(EXISTS "${path}")
    file(READ "${path}" old)
  else()
    set(old "")
  endif()
  if(NOT old STREQUAL text)
    file(WRITE "${path}" "${text}")
  endif()
endfunction()
