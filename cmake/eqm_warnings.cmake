# Warnings are errors on our own code. Vendor headers come in through imported
# targets, which CMake treats as SYSTEM includes, so their warnings stay out.
function(eqm_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wunused -Woverloaded-virtual -Wnull-dereference
    -Wimplicit-fallthrough -Werror)
endfunction()
