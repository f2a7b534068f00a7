# announce(NAME FOUND DETAIL): one line per dependency, found or not, at configure time.
function(announce name found detail)
  if(found)
    message(STATUS "alexnet: [found]     ${name} ${detail}")
  else()
    message(STATUS "alexnet: [not found] ${name}")
  endif()
endfunction()
